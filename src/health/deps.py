"""What the health endpoints look at, read from `app.state`: the database and its migration head, the
vector store's readiness and the index's outline, Redis, the turns waiting to be recorded, the embedder,
and the drain state."""

from __future__ import annotations

from dataclasses import MISSING, dataclass, fields
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncEngine

from src.kit.cache import Cache
from src.kit.middleware import InFlight
from src.kit.redis_link import RedisLink
from src.kit.settings import Settings
from src.retrieval.embedder import Embedder
from src.retrieval.outline import Outline
from src.retrieval.store.readiness import StoreReadiness
from src.security.access import AccessControl
from src.sessions.recorder import TurnRecorder


@dataclass(frozen=True)
class Probed:
    settings: Settings
    engine: AsyncEngine
    migrations_head: str
    store_state: StoreReadiness
    redis: RedisLink
    recorder: TurnRecorder
    embedder: Embedder
    in_flight: InFlight
    access: AccessControl | None = None  # on app.state; the scheduler's own check (of the container) has none
    cache: Cache | None = None
    outline: Outline | None = None  # the index's outline, for the passage format of what is stored

    @classmethod
    def of(cls, source: object) -> Probed:
        """Each field read from the attribute of the same name: of `app.state` (the container publishes them)
        or of the container itself (the scheduler's readiness check)."""
        return cls(
            **{f.name: getattr(source, f.name) for f in fields(cls) if f.default is MISSING or hasattr(source, f.name)}
        )


def get_probed(request: Request) -> Probed:
    return Probed.of(request.app.state)


ProbedDep = Annotated[Probed, Depends(get_probed)]
