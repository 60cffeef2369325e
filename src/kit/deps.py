"""Typed dependencies every domain may use: the settings, and one transaction per request (commit on
success, roll back on error). Each domain declares its own services' aliases in its `deps.py`."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from src.kit.db import transaction
from src.kit.settings import Settings


def from_state(name: str) -> Any:
    """A dependency that hands a route `request.app.state.<name>`, which the container published.
    Use it in a typed alias: `AnswerServiceDep = Annotated[AnswerService, from_state("answers")]`."""

    def read(request: Request) -> Any:
        return getattr(request.app.state, name)

    read.__name__ = f"state_{name}"
    return Depends(read)


async def get_db(request: Request) -> AsyncIterator[AsyncSession]:
    factory: async_sessionmaker[AsyncSession] = request.app.state.db
    async with transaction(factory) as session:  # `async with`: a failing route rolls back (and 503s) at once
        yield session


SettingsDep = Annotated[Settings, from_state("settings")]
# scope="function": the transaction commits when the route returns, before the response is sent. (By default
# FastAPI runs the exit code after sending: a client could be told 200 for a write that then failed,
# or read its own write back before it was committed.)
DbSession = Annotated[AsyncSession, Depends(get_db, scope="function")]
