"""SQL for sessions, their messages and feedback."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from src.db.models import Feedback, Message, UserSession, utcnow


class SessionRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def touch(self, session_id: str, when: datetime | None = None) -> UserSession:
        row = await self.session.get(UserSession, session_id)
        when = when or utcnow()
        if row is None:
            row = UserSession(id=session_id, created_at=when, last_active_at=when)
            self.session.add(row)
        else:
            row.last_active_at = max(_aware(row.last_active_at), when)
        await self.session.flush()
        return row

    async def add_message(self, values: dict[str, Any]) -> None:
        if await self.session.get(Message, values["id"]) is None:  # a flush retried after a fault stays single
            self.session.add(Message(**values))
            await self.session.flush()

    async def get(self, session_id: str) -> UserSession | None:
        return await self.session.get(UserSession, session_id)

    async def history(self, session_id: str, limit: int) -> Sequence[Message]:
        stmt = select(Message).where(Message.session_id == session_id).order_by(Message.created_at.desc()).limit(limit)
        return list(reversed((await self.session.execute(stmt)).scalars().all()))

    async def delete_session(self, session_id: str) -> bool:
        result = await self.session.execute(delete(UserSession).where(UserSession.id == session_id))
        return bool(result.rowcount)  # type: ignore[attr-defined]

    async def delete_inactive_since(self, cutoff: datetime) -> int:
        result = await self.session.execute(delete(UserSession).where(UserSession.last_active_at < cutoff))
        return int(result.rowcount or 0)  # type: ignore[attr-defined]

    async def get_message(self, message_id: str) -> Message | None:
        return await self.session.get(Message, message_id)

    async def add_feedback(self, message_id: str, rating: str, comment: str | None) -> Feedback:
        row = Feedback(message_id=message_id, rating=rating, comment=comment)
        self.session.add(row)
        await self.session.flush()
        return row


def _aware(value: datetime) -> datetime:
    """SQLite returns naive datetimes for timezone-aware columns: they are UTC."""
    return value if value.tzinfo else value.replace(tzinfo=UTC)
