"""The events an answer is streamed as, and their server-sent-events encoding: `Retrieval` (the
passages, before any answering), `Delta` (text) and `CitationEvent` as the answer is written, `Done`
(the whole response), or `Error` when a stream that has started fails."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from src.answering.citations import marks, pieces
from src.answering.schemas import AnswerResponse
from src.answering.showing import AnswerBlock
from src.kit.errors import ErrorBody
from src.retrieval.passage import Citation
from src.retrieval.schemas import RetrievedContext


@dataclass(frozen=True)
class Retrieval:
    """The passages found, sent before any answering (none for a turn that searches nothing): a client can
    show where the answer will come from while it is written."""

    contexts: list[RetrievedContext]


@dataclass(frozen=True)
class Delta:
    """The answer's next piece of text."""

    text: str


@dataclass(frozen=True)
class CitationEvent:
    """A citation, sent once, right after the piece of text that first uses its mark."""

    citation: Citation


@dataclass(frozen=True)
class BlockEvent:
    """A block of the book the answer shows whole (code, list, table, math, figure), sent before the text
    that holds its Markdown."""

    block: AnswerBlock


@dataclass(frozen=True)
class Done:
    """The whole response, as /api/v1/answer returns it (its `refusal` included): the last event of a turn,
    sent once the turn is recorded."""

    response: AnswerResponse


@dataclass(frozen=True)
class Error:
    """A stream that has started and fails ends with the error body any failed request gets."""

    body: ErrorBody


Event = Retrieval | Delta | CitationEvent | BlockEvent | Done
Writing = Delta | CitationEvent | BlockEvent  # what the writer streams while it writes


def whole(answer: str, citations: list[Citation], blocks: list[AnswerBlock] | None = None) -> Iterator[Writing]:
    """An answer that is already complete as events: each block before the piece of text that holds it,
    each piece, then the citations it is first to use."""
    by_id = {c.id: c for c in citations}
    sent: set[int] = set()
    starts: list[tuple[int, AnswerBlock]] = []
    at = 0
    for block in blocks or []:
        found = answer.find(block.markdown, at)
        if found >= 0:
            starts.append((found, block))
            at = found + len(block.markdown)
    done = 0
    for piece in pieces(answer):
        done += len(piece)
        while starts and starts[0][0] < done:
            yield BlockEvent(starts.pop(0)[1])
        yield Delta(piece)
        for n in marks(piece):
            if n in by_id and n not in sent:
                sent.add(n)
                yield CitationEvent(by_id[n])


def sse(event: str, data: Any) -> bytes:
    return f"event: {event}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n".encode()


def encode(event: Event | Error) -> bytes:
    """An event as the stream sends it (the names and data clients read)."""
    match event:
        case Retrieval(contexts):
            return sse("retrieval", {"retrieved_contexts": [c.model_dump() for c in contexts]})
        case Delta(text):
            return sse("delta", {"text": text})
        case CitationEvent(citation):
            return sse("citation", citation.model_dump())
        case BlockEvent(block):
            return sse("block", block.model_dump())
        case Done(response):
            return sse("done", response.model_dump())
        case Error(body):
            return sse("error", body.model_dump())
