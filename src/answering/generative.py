"""The answer agent with a language model: it writes from the numbered passages it is shown, under
a deadline, and every finished sentence goes through the grounding checker before the student sees
it. Past the deadline, or when the provider fails, it stops; the caller falls back to the
extractive answer (marked degraded) when nothing was said yet."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from anyio import to_thread

from src.answering.grounding import Checked, check_sentence, split_finished
from src.answering.prompt import NOT_IN_BOOK, build_messages
from src.answering.providers import Provider, ProviderError
from src.kit.logging import get_logger
from src.kit.settings import Settings
from src.retrieval.fusion import Fused

log = get_logger(__name__)

# What a model may open with that says nothing ("Sure!", "Great question."): removed, but no reason to doubt
# the rest of its answer.
OPENING_FILLER = frozenset({"fragment", "empty"})


@dataclass
class Outcome:
    """How the model's turn ended, once every sentence has been yielded."""

    kept: list[Checked] = field(default_factory=list)
    removed: list[Checked] = field(default_factory=list)
    said_not_in_book: bool = False
    failure: str | None = (
        None  # "timeout", "opening removed: <why>" or the provider's error; None when the model finished
    )
    truncated: bool = False  # a stream reached ANSWER_STREAM_MAX_SECONDS after its first sentences


async def generate(
    provider: Provider, settings: Settings, question: str, hits: list[Fused], outcome: Outcome, streamed: bool = False
) -> AsyncIterator[tuple[Checked, dict[int, Fused]]]:
    """Each supported sentence as soon as it is finished, with the passages it may cite by number.
    `outcome` is filled in as it goes.

    ANSWER_TIMEOUT_SECONDS bounds the wait for the first supported sentence. A whole answer (/answer)
    must be done by then too; a stream may go on, sentence by sentence, until ANSWER_STREAM_MAX_SECONDS."""
    # The passages' sentences and each sentence's grounding are CPU work on book and client text: worker threads.
    messages, shown = await to_thread.run_sync(build_messages, question, hits, settings.model_context_tokens)
    passages = {n: hits[n - 1] for n in shown}
    allowed = {h.passage.url for h in hits if h.passage.url}
    buffer = ""
    started = time.perf_counter()
    now = asyncio.get_running_loop().time()
    first_by = now + settings.answer_timeout_seconds
    end_by = now + (
        max(settings.answer_stream_max_seconds, settings.answer_timeout_seconds)
        if streamed
        else settings.answer_timeout_seconds
    )
    # The model is read by a task of its own: the deadline then never cancels the caller mid-yield.
    queue: asyncio.Queue[str | BaseException | None] = asyncio.Queue()

    async def read() -> None:
        try:
            async for piece in provider.generate(messages, settings.model_max_tokens):
                queue.put_nowait(piece)
            queue.put_nowait(None)
        except ProviderError as exc:
            queue.put_nowait(exc)
        except Exception as exc:  # noqa: BLE001 - a provider bug must not become a student's error
            queue.put_nowait(ProviderError(f"{type(exc).__name__}: {exc}"))

    reader = asyncio.create_task(read(), name="answer-model")
    try:
        while True:
            remaining = (end_by if outcome.kept else first_by) - asyncio.get_running_loop().time()
            if remaining <= 0:
                raise TimeoutError
            item = await asyncio.wait_for(queue.get(), remaining)
            if isinstance(item, BaseException):
                raise item
            last = item is None
            buffer += item or ""
            if NOT_IN_BOOK in buffer:
                outcome.said_not_in_book = not outcome.kept
                break
            finished, buffer = split_finished(buffer)
            if last and buffer.strip():
                finished, buffer = [*finished, buffer.strip()], ""
            for sentence in finished:
                # The answer is on topic as a whole: its first sentence shares the question's words, and a
                # follow-on one ("It was trained on ...") is judged by its support in the passages alone.
                topic = "" if outcome.kept else question
                checked = await to_thread.run_sync(check_sentence, sentence, shown, allowed, topic)
                (outcome.kept if checked.supported else outcome.removed).append(checked)
                if checked.supported:
                    yield checked, passages
                elif not outcome.kept and checked.reason not in OPENING_FILLER:
                    # The answer's opening claim is one the book does not support: the rest is not read, and
                    # the quoted answer stands in (nothing has been shown yet).
                    outcome.failure = f"opening removed: {checked.reason}"
                    break
            if last or outcome.failure:
                break
    except TimeoutError:
        if outcome.kept:
            outcome.truncated = True  # the stream's cap: what was said stands, the rest is cut
        else:
            outcome.failure = "timeout"
    except ProviderError as exc:
        outcome.failure = str(exc) or "provider error"
    finally:
        reader.cancel()
    if outcome.failure or outcome.removed or outcome.truncated:
        log.info(
            "ANSWER_MODEL_OUTCOME",
            provider=provider.name,
            failure=outcome.failure,
            truncated=outcome.truncated,
            kept=len(outcome.kept),
            removed=[c.reason for c in outcome.removed],
            elapsed_ms=round((time.perf_counter() - started) * 1000, 1),
        )
