"""What a turn is recorded with: the answer, how it was answered, and where in the book it landed (for
the author's reports); and the conversation read back from the recorded turns, for a follow-up."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from src.answering.followup import PastTurn
from src.answering.schemas import AnswerResponse
from src.db.models import Message
from src.kit.db import transaction
from src.retrieval.passage import Citation
from src.sessions.repository import SessionRepository


def approx_tokens(*texts: str) -> int:
    return sum(max(1, len(t) // 4) for t in texts)


@dataclass(frozen=True)
class Landing:
    """Where in the book a turn landed."""

    source_file: str | None = None
    chapter: str | None = None
    section: str | None = None
    url: str | None = None


def landing(result: AnswerResponse) -> Landing:
    """Its top citation of the book: file, chapter, section and URL; for a refusal (or an answer from the
    highlighted passage alone), the closest section the search found (where the missing text would go)."""
    passages = [(c.chunk_id, c.passage()) for c in result.retrieved_contexts]
    book = [c for c in result.citations if c.kind == "book"]
    if book:
        top = book[0]
        cited = dict(passages).get(top.chunk_id)
        return Landing(top.source_file, (cited.chapter if cited else None) or top.title, top.section, top.url)
    closest = next((p for _, p in passages if p.kind == "book"), None)
    if closest is None:
        return Landing()
    return Landing(closest.source_file, closest.chapter or closest.title, closest.section, closest.url)


async def previous_turns(
    db: async_sessionmaker[AsyncSession] | None, wait_seconds: float, session_id: str, turns: int = 3
) -> list[PastTurn]:
    """The session's latest turns (as they were resolved, with the files their answers cited); none if
    the database cannot be read right now. Its own short transaction: a streamed answer outlives the
    request's."""
    if db is None:
        return []
    try:
        async with asyncio.timeout(wait_seconds), transaction(db) as session:
            messages = await SessionRepository(session).history(session_id, turns)
    except (DBAPIError, OSError, TimeoutError):
        return []
    return [past_turn(m) for m in messages if m.question]


def past_turn(message: Message) -> PastTurn:
    """A recorded turn as the conversation a follow-up is resolved against: its question as it was
    resolved, and what its answer cited."""
    citations = [Citation.model_validate(c) for c in message.citations]
    return PastTurn.cited(message.standalone_question or message.question, citations)
