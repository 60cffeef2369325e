"""The model path's checker as a whole answer sees it (`answering.generative`), with a scripted model (a
fake standing in for a hosted model, which cannot be reached here) that writes a fixed answer in small
chunks, as a stream does: in process, and over real HTTP as an OpenAI-compatible server."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

from src.answering.generative import Outcome, generate
from src.retrieval.fusion import Fused
from src.retrieval.passage import Passage
from tests.answering.conftest import http_server, scripted_handler
from tests.answering.test_llm_providers import model_settings
from tests.conftest import auth, make_settings, running_app

RT2 = (
    "RT-2 is a vision-language-action model that outputs robot actions as text tokens. "
    "It was trained on web-scale image and text data together with robot demonstrations. "
    "Gazebo simulates rigid bodies and sensors for testing controllers."
)


class ScriptedModel:
    """A fake model: replays `answer` in chunks of `size` characters."""

    name = "scripted"

    def __init__(self, answer: str, size: int = 3) -> None:
        self.answer = answer
        self.size = size

    async def generate(self, messages: list[dict[str, str]], max_tokens: int) -> AsyncIterator[str]:
        for i in range(0, len(self.answer), self.size):
            yield self.answer[i : i + self.size]


async def kept_and_removed(answer: str, question: str, tmp_path: Path) -> Outcome:
    settings = make_settings(tmp_path, answer_timeout_seconds=10.0)
    hit = Fused("c1", 0.9, 0.9, None, Passage(content=RT2, source_file="book/vla.md", section="RT-2"))
    outcome = Outcome()
    async for _ in generate(ScriptedModel(answer), settings, question, [hit], outcome):
        pass
    return outcome


async def test_a_follow_on_sentence_is_judged_with_the_answer_so_far(tmp_path: Path) -> None:
    answer = (
        "RT-2 is a vision-language-action model that outputs robot actions as text tokens. [1] "
        "It was trained on web-scale image and text data together with robot demonstrations. [1]"
    )
    outcome = await kept_and_removed(answer, "What is RT-2?", tmp_path)
    # The second sentence shares no word with the question; the answer it follows does.
    assert [c.cited for c in outcome.kept] == [(1,), (1,)] and not outcome.removed


async def test_an_answer_that_opens_off_the_question_is_still_removed(tmp_path: Path) -> None:
    answer = "Gazebo simulates rigid bodies and sensors for testing controllers. [1]"
    outcome = await kept_and_removed(answer, "What is RT-2?", tmp_path)
    assert not outcome.kept and [c.reason for c in outcome.removed] == ["off-topic"]


SUPPORTED = (
    "RT-2 is a vision-language-action model that outputs robot actions as text tokens. [1] "
    "It was trained on web-scale image and text data together with robot demonstrations. [1]"
)
PLANTED = " It was trained on 40 million robot demonstrations collected over 9 years. [1]"


async def answer_with_model(answer: str, tmp_path: Path) -> dict[str, object]:
    with http_server(scripted_handler(answer)) as base_url:
        settings = model_settings(tmp_path, base_url, 10.0, cache_answer_ttl_seconds=0)
        async with running_app(settings) as (_, client):
            page = {"content": f"# RT-2\n\n{RT2}\n", "metadata": {"source_file": "book/vla.md"}}
            indexed = await client.post("/api/v1/index", json=page, headers=auth())
            assert indexed.status_code == 200, indexed.text
            response = await client.post("/api/v1/answer", json={"question": "What is RT-2?"})
            assert response.status_code == 200, response.text
            body: dict[str, object] = response.json()
            return body


async def test_an_answer_the_checker_cut_down_says_it_is_partial(tmp_path: Path) -> None:
    body = await answer_with_model(SUPPORTED + PLANTED, tmp_path)
    assert body["provider"] == "openai" and not body["degraded"]
    # The invented figures never reach the student, and the answer says something was left out.
    assert "40 million" not in str(body["answer"]) and "web-scale image" in str(body["answer"])
    assert body["partial"] is True and body["removed_sentences"] == 1


async def test_an_answer_that_reaches_the_student_whole_is_not_partial(tmp_path: Path) -> None:
    body = await answer_with_model(SUPPORTED, tmp_path)
    assert body["provider"] == "openai" and body["partial"] is False and body["removed_sentences"] == 0
    assert str(body["answer"]).count("[1]") == 2


async def test_an_answer_whose_opening_the_book_does_not_support_gives_way_to_the_quoted_answer(
    tmp_path: Path,
) -> None:
    invented = "RT-2 was released in 2031 by a consortium of 40 universities. [1] "
    body = await answer_with_model(invented + SUPPORTED, tmp_path)
    # The rest of the model's answer is not read: the book's own sentences stand in, marked degraded.
    assert body["degraded"] is True and body["provider"] == "extractive"
    assert "2031" not in str(body["answer"]) and "vision-language-action" in str(body["answer"])


async def test_a_filler_opening_does_not_cost_the_models_answer(tmp_path: Path) -> None:
    body = await answer_with_model("Sure! " + SUPPORTED, tmp_path)
    assert body["provider"] == "openai" and body["degraded"] is False and "Sure" not in str(body["answer"])
    assert body["partial"] is False  # a filler opening left out leaves nothing of the answer out
