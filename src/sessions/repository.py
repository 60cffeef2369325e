"""SQL for sessions, their messages and feedback."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import case, delete, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from src.db.models import Feedback, Message, UserSession, utcnow
from src.kit.db import affected_rows


class SessionRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    def _dialect(self) -> str:
        return self.session.get_bind().dialect.name

    async def touch(self, session_id: str, when: datetime | None = None) -> None:
        """Create the session or move its last activity forward (never back), in one statement, so two
        workers recording turns of the same new session at once cannot collide."""
        when = when or utcnow()
        dialect = self._dialect()
        if dialect not in ("postgresql", "sqlite"):  # pragma: no cover - the service supports these two
            row = await self.session.get(UserSession, session_id)
            if row is None:
                self.session.add(UserSession(id=session_id, created_at=when, last_active_at=when))
            else:
                row.last_active_at = max(_aware(row.last_active_at), when)
            await self.session.flush()
            return
        insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
        stmt = insert(UserSession).values(id=session_id, created_at=when, last_active_at=when)
        later = case(
            (stmt.excluded.last_active_at > UserSession.last_active_at, stmt.excluded.last_active_at),
            else_=UserSession.last_active_at,
        )
        await self.session.execute(
            stmt.on_conflict_do_update(index_elements=[UserSession.id], set_={"last_active_at": later})
        )

    async def add_message(self, values: dict[str, Any]) -> bool:
        """Insert the message unless its id is already stored (a retried write stays single). True if inserted."""
        dialect = self._dialect()
        if dialect not in ("postgresql", "sqlite"):  # pragma: no cover
            if await self.session.get(Message, values["id"]) is not None:
                return False
            self.session.add(Message(**values))
            await self.session.flush()
            return True
        insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
        result = await self.session.execute(
            insert(Message).values(**values).on_conflict_do_nothing(index_elements=[Message.id])
        )
        return affected_rows(result) > 0

    async def get(self, session_id: str) -> UserSession | None:
        return await self.session.get(UserSession, session_id)

    async def exists(self, session_id: str) -> bool:
        found = await self.session.execute(select(UserSession.id).where(UserSession.id == session_id))
        return found.first() is not None

    async def history(self, session_id: str, limit: int) -> Sequence[Message]:
        stmt = select(Message).where(Message.session_id == session_id).order_by(Message.created_at.desc()).limit(limit)
        return list(reversed((await self.session.execute(stmt)).scalars().all()))

    async def count_messages(self, session_id: str) -> int:
        return int(
            (
                await self.session.execute(
                    select(func.count()).select_from(Message).where(Message.session_id == session_id)
                )
            ).scalar_one()
        )

    async def delete_session(self, session_id: str) -> bool:
        result = await self.session.execute(delete(UserSession).where(UserSession.id == session_id))
        return affected_rows(result) > 0

    async def delete_inactive_since(self, cutoff: datetime) -> int:
        result = await self.session.execute(delete(UserSession).where(UserSession.last_active_at < cutoff))
        return affected_rows(result)

    async def get_message(self, message_id: str) -> Message | None:
        return await self.session.get(Message, message_id)

    async def rate(self, message_id: str, rating: str, comment: str | None) -> Feedback | None:
        """The reader's rating of an answer, one row per answer: the latest rating and comment replace the
        earlier ones (the rating is kept with the turn too, for the reports). None when there is no such answer.

        The turn is updated first, and that locks it until the commit (its row on PostgreSQL, the database on
        SQLite): two ratings of one answer at once take turns, and the second finds the first's row. No unique
        constraint: the release before inserts a row per rating while both run (an expand step may not refuse
        its writes), so rows it left are folded into the latest here."""
        marked = await self.session.execute(update(Message).where(Message.id == message_id).values(rating=rating))
        if affected_rows(marked) == 0:
            return None
        stmt = (
            select(Feedback)
            .where(Feedback.message_id == message_id)
            .order_by(Feedback.created_at.desc(), Feedback.id.desc())
        )
        rows = list((await self.session.execute(stmt)).scalars())
        if not rows:
            row = Feedback(message_id=message_id, rating=rating, comment=comment, created_at=utcnow())
            self.session.add(row)
        else:
            row, older = rows[0], rows[1:]
            row.rating, row.comment, row.created_at = rating, comment, utcnow()
            if older:
                await self.session.execute(delete(Feedback).where(Feedback.id.in_([o.id for o in older])))
        await self.session.flush()
        return row


def _aware(value: datetime) -> datetime:
    """SQLite returns naive datetimes for timezone-aware columns: they are UTC."""
    return value if value.tzinfo else value.replace(tzinfo=UTC)
