"""A section the book titles with what the student asks about is what the answer cites first, even when
other sections use the question's words far more (`retrieval.headings`): "what is a glimmer flare?" opens
with the section "Glimmer Flares", "how do I light the beacon?" with the step "5 Light the beacon".
Over real HTTP (a uvicorn process) with the real model and the embedded store, on a made-up book."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import answer_of, served_book

SOURCE = "handmade/docs/lantern-towers.md"
LOGS = 30  # sections that say the question's words on every line, without being about them


def tower_log(i: int) -> str:
    return (
        f"## Tower {i} log\n\n"
        f"Tower {i} keeps its beacon light steady through the night. The beacon light of tower {i} is checked "
        f"at dusk, and a dim beacon light is written in the log. Glimmer flares near tower {i} are counted: "
        f"a glimmer flare seen from tower {i} is noted beside the beacon light's colour, and every glimmer flare "
        f"is reported to the keeper of tower {i + 1}.\n"
    )


# A step whose command comes after more prose than one chunk holds.
LONG_STEP_PROSE = "\n\n".join(
    f"Keeper's note {n}: before dusk, check that the oil reservoir of the north tower is full, that the wick "
    "is trimmed to the width of a thumbnail, that the shutters open without catching, and that the spare "
    "mirror is wrapped in its cloth. A keeper who skips these checks may find the tower dark at midnight, "
    "when the harbour pilots depend on it most, and the keepers of the towers beyond it would then pass on "
    "nothing at all."
    for n in range(1, 6)
)

PAGE = "\n".join(
    [
        "# Lantern Towers\n\nLantern towers pass signals along a coast by night.\n",
        *(tower_log(i) for i in range(1, LOGS + 1)),
        "## Glimmer Flares\n\nA sudden brightening of a lantern when salt spray crosses its mirror, lasting"
        " under a second and carrying no message.\n",
        "## 4 Polish the mirrors\n\nWipe each mirror with the soft cloth kept in the tower.\n\n"
        "```bash\nlanternctl polish --all\n```\n",
        "## 5 Light the beacon\n\nOpen a second terminal, separate from the one where you polished the mirrors,"
        " and start the tower's flame:\n\n```bash\nlanternctl ignite --tower north\n```\n",
        f"## 6 Raise the storm pennant\n\n{LONG_STEP_PROSE}\n\nThen, from the keeper's console:\n\n"
        "```bash\nlanternctl pennant --storm --tower north\n```\n",
        "## Examining the lanterns\n\nAttach to each tower's console, one terminal for each:\n\n"
        "```bash\nlanternctl attach north\nlanternctl attach south\n```\n\n"
        "On a Windows console the command is the same:\n\n```bash\nlanternctl attach north\nlanternctl attach south\n```\n",
    ]
)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    metadata = {"source_file": SOURCE, "url": "/docs/lantern-towers", "document_type": "markdown"}
    with served_book(Path(tmp_path_factory.mktemp("named")), [(PAGE, metadata)]) as (url, _):
        yield url


@pytest.fixture
def http(server: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server, timeout=120) as client:
        yield client


@pytest.mark.parametrize("question", ["What is a glimmer flare?", "Can you explain glimmer flares?"])
def test_what_is_x_cites_the_section_titled_x_first(http: httpx.Client, question: str) -> None:
    body = answer_of(http, question)
    assert body["citations"][0]["section"] == "Glimmer Flares", body["citations"]
    assert "salt spray" in body["answer"]


def test_how_do_i_cites_the_step_titled_with_the_task_and_shows_its_command(http: httpx.Client) -> None:
    body = answer_of(http, "How do I light the beacon?")
    assert body["citations"][0]["section"] == "5 Light the beacon", body["citations"]
    assert "lanternctl ignite --tower north" in body["answer"]


def test_how_do_i_shows_the_command_of_a_step_that_runs_over_several_chunks(http: httpx.Client) -> None:
    body = answer_of(http, "How do I raise the storm pennant?")
    assert body["citations"][0]["section"] == "6 Raise the storm pennant", body["citations"]
    assert "lanternctl pennant --storm --tower north" in body["answer"], body["answer"]


def test_a_task_the_book_titles_is_answered_however_little_its_text_resembles_the_question(
    http: httpx.Client,
) -> None:
    body = answer_of(http, "How do I examine the lanterns?")
    assert not body["refused"], body["answer"]
    assert body["citations"][0]["section"] == "Examining the lanterns", body["citations"]
    # The block the section repeats under another system's name is shown once.
    assert body["answer"].count("lanternctl attach north") == 1, body["answer"]


@pytest.fixture(scope="module")
def strict_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The same book behind an evidence threshold no passage's wording reaches: only what its headings
    name is answered."""
    metadata = {"source_file": SOURCE, "url": "/docs/lantern-towers", "document_type": "markdown"}
    folder = Path(tmp_path_factory.mktemp("strict"))
    with served_book(folder, [(PAGE, metadata)], evidence_threshold=0.99) as (url, _):
        yield url


@pytest.mark.parametrize(
    ("question", "section"),
    [("How do I examine the lanterns?", "Examining the lanterns"), ("What are glimmer flares?", "Glimmer Flares")],
)
def test_a_question_whose_words_are_a_heading_is_covered_by_the_book(
    strict_server: str, question: str, section: str
) -> None:
    with httpx.Client(base_url=strict_server, timeout=120) as http:
        body = answer_of(http, question)
        assert not body["refused"] and body["citations"][0]["section"] == section, body
        # A question that names no heading is still judged by how close the book's text comes to it.
        assert answer_of(http, "How do I examine the harbour pilots?")["refused"]
