"""The index's outline (`retrieval.outline`): the heading lookup: which sections a question's subject or task names exactly,
read from a real embedded Qdrant shard."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from src.kit.text import terms
from src.retrieval.outline import MAX_NAMED, Outline, admitted, heading_keys, words_key
from src.retrieval.passage import PASSAGE_FORMAT, Passage
from src.retrieval.store.base import Hit, SearchFilter, SparseVec, StoredChunk
from src.retrieval.store.embedded import EmbeddedStore

DIMENSIONS = 384


def chunk(source: str, path: tuple[str, ...], position: int) -> StoredChunk:
    passage = Passage(
        content=f"Text of {path[-1]}.", source_file=source, section=path[-1], heading_path=path, position=position
    )
    vector = [0.0] * DIMENSIONS
    vector[position % DIMENSIONS] = 1.0
    cid = str(uuid.uuid5(uuid.NAMESPACE_URL, f"{source}#{position}"))
    return StoredChunk(cid, vector, SparseVec([], []), passage.to_payload())


@pytest.fixture
def store(tmp_path: Path) -> Iterator[EmbeddedStore]:
    s = EmbeddedStore(tmp_path / "shard", DIMENSIONS)
    s.ensure_collection()
    yield s
    s.close()


def test_a_heading_answers_to_all_its_words_and_to_the_part_that_names_its_subject() -> None:
    assert words_key(terms("topics")) in heading_keys("Topics (Publish-Subscribe)")
    assert words_key(terms("domain randomization")) in heading_keys("Strategy 1: Domain Randomization")
    assert words_key(terms("nodes")) in heading_keys("Nodes: the building blocks")
    # A step's number is not a word: "6 Source the overlay" is what "how do I source the overlay?" asks.
    assert words_key(terms("How do I source the overlay?")) in heading_keys("6 Source the overlay")
    assert words_key(terms("How do I create a project with Cargo?")) in heading_keys("Creating a Project with Cargo")
    assert heading_keys("Overview (") == {words_key(terms("overview"))}


def test_the_first_chunk_of_each_section_the_words_name(store: EmbeddedStore) -> None:
    chunks = [
        chunk("book/a.md", ("Information", "Cross-Entropy Revisited"), 0),
        chunk("book/a.md", ("Information", "Entropy"), 1),
        chunk("book/a.md", ("Information", "Entropy"), 2),  # the section's second chunk
        chunk("book/b.md", ("Thermodynamics", "Entropy"), 0),
        chunk("book/b.md", ("Thermodynamics", "Heat"), 1),
    ]
    store.upsert(chunks)
    headings = Outline(store)
    named = headings.named(tuple(terms("entropy")), "v1")
    assert sorted(named) == sorted([chunks[1].id, chunks[3].id])
    assert headings.named(tuple(terms("cross entropy revisited")), "v1") == (chunks[0].id,)
    assert headings.named(tuple(terms("temperature")), "v1") == ()


def test_a_new_index_version_is_read_again(store: EmbeddedStore) -> None:
    headings = Outline(store)
    first = chunk("book/a.md", ("Sensors",), 0)
    store.upsert([first])
    assert headings.named(tuple(terms("sensors")), "v1") == (first.id,)
    store.delete([first.id])
    # The same version is remembered; the next one sees the book as it is now.
    assert headings.named(tuple(terms("sensors")), "v1") == (first.id,)
    assert headings.named(tuple(terms("sensors")), "v2") == ()


def test_a_heading_that_many_sections_share_names_nothing(store: EmbeddedStore) -> None:
    store.upsert([chunk(f"book/ch{i}.md", (f"Chapter {i}", "Summary"), i) for i in range(MAX_NAMED + 1)])
    assert Outline(store).named(tuple(terms("summary")), "v1") == ()


def test_a_named_section_outside_the_search_filter_is_not_admitted() -> None:
    passage = Passage(source_file="book/a.md", chapter="Sensors", chapter_number=3, document_type="markdown")
    assert admitted(SearchFilter(), passage)
    assert admitted(SearchFilter(source_files=("book/a.md",), up_to_chapter=3), passage)
    assert not admitted(SearchFilter(source_files=("book/b.md",)), passage)
    assert not admitted(SearchFilter(chapter="Actuators"), passage)
    assert not admitted(SearchFilter(up_to_chapter=2), passage)
    assert not admitted(SearchFilter(document_types=("pdf",)), passage)


def test_the_rest_of_a_section_in_the_books_order(store: EmbeddedStore) -> None:
    chunks = [
        chunk("book/a.md", ("Setup", "Build the workspace"), 4),
        chunk("book/a.md", ("Setup", "Build the workspace"), 2),
        chunk("book/a.md", ("Setup", "Build the workspace"), 3),
        chunk("book/a.md", ("Setup", "Run a node"), 5),
    ]
    store.upsert(chunks)
    outline = Outline(store)
    (first,) = outline.named(tuple(terms("build the workspace")), "v1")
    assert first == chunks[1].id  # the section's first chunk is the one placed first, not the one stored first
    assert outline.rest_of_section(first, "v1") == (chunks[2].id, chunks[0].id)
    (run,) = outline.named(tuple(terms("run a node")), "v1")
    assert outline.rest_of_section(run, "v1") == ()


def test_the_outline_counts_chunks_stored_before_the_current_passage_format(store: EmbeddedStore) -> None:
    current = chunk("book/a.md", ("Sensors",), 0)
    earlier = chunk("book/a.md", ("Sensors",), 1)
    current = StoredChunk(current.id, current.dense, current.sparse, current.payload | {"format": PASSAGE_FORMAT})
    store.upsert([current, earlier])  # `chunk` writes format 0, as a release before formats did
    assert Outline(store).older_format("v1") == (1, 2)


def test_past_its_chunk_limit_the_outline_is_not_read_and_names_nothing(store: EmbeddedStore) -> None:
    store.upsert([chunk("book/a.md", ("Sensors",), 0), chunk("book/a.md", ("Motors",), 1)])
    outline = Outline(store, max_chunks=1)
    assert outline.named(tuple(terms("sensors")), "v1") == ()
    assert outline.older_format("v1") is None


class SlowPayloads:
    """The real store, with its whole-index read held until the test lets it go (a large index's read)."""

    def __init__(self, store: EmbeddedStore) -> None:
        self.store = store
        self.release = threading.Event()

    def count(self) -> int:
        return self.store.count()

    def payloads(self, fields: list[str]) -> list[Hit]:
        self.release.wait(10)
        return self.store.payloads(fields)


def test_a_question_never_waits_long_for_a_new_outline(store: EmbeddedStore) -> None:
    first = chunk("book/a.md", ("Sensors",), 0)
    store.upsert([first])
    slow = SlowPayloads(store)
    slow.release.set()
    outline = Outline(slow, wait_seconds=0.2)  # type: ignore[arg-type]  # the store's two methods the outline reads
    assert outline.named(tuple(terms("sensors")), "v1") == (first.id,)
    slow.release.clear()
    second = chunk("book/b.md", ("Motors",), 0)
    store.upsert([second])
    # The new version is still being read: the outline before answers, then the new one once it is read.
    assert outline.named(tuple(terms("motors")), "v2") == () and outline.older_format("v2") is None
    slow.release.set()
    for _ in range(100):
        if outline.named(tuple(terms("motors")), "v2"):
            break
        time.sleep(0.05)
    assert outline.named(tuple(terms("motors")), "v2") == (second.id,)
    assert outline.older_format("v2") == (2, 2)
