"""Typed dependencies: the app's resources and one transaction per request."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession

from src.kit.db import transaction
from src.kit.resources import Resources


def get_resources(request: Request) -> Resources:
    return request.app.state.resources  # type: ignore[no-any-return]


ResourcesDep = Annotated[Resources, Depends(get_resources)]


async def get_db(resources: ResourcesDep) -> AsyncIterator[AsyncSession]:
    async with transaction(resources.db) as session:  # `async with`: a failing route rolls back (and 503s) at once
        yield session


DbSession = Annotated[AsyncSession, Depends(get_db)]
