"""The events an answer is streamed as, and their server-sent-events encoding:
("retrieval", contexts) | ("delta", text) | ("citation", Citation) | ("done", AnswerResponse)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

from src.answering.schemas import Citation

Event = tuple[str, Any]
_PIECE = re.compile(r"[^\[]*?\[\d+\]\s*|.+$", re.S)
_MARK = re.compile(r"\[(\d+)\]")


def pieces(answer: str) -> list[str]:
    """The answer cut after each citation mark: the deltas of an answer that is already whole."""
    return [p for p in _PIECE.findall(answer) if p]


def whole(answer: str, citations: list[Citation]) -> Iterator[Event]:
    """An answer that is already complete as events: each piece, then the citations it is first to use."""
    by_id = {c.id: c for c in citations}
    sent: set[int] = set()
    for piece in pieces(answer):
        yield "delta", piece
        for n in (int(x) for x in _MARK.findall(piece)):
            if n in by_id and n not in sent:
                sent.add(n)
                yield "citation", by_id[n]


def sse(event: str, data: Any) -> bytes:
    return f"event: {event}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n".encode()
