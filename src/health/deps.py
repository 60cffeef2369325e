"""What the health endpoints look at, read from `app.state`: the database and its migration head, the
vector store's readiness, Redis, the turns waiting to be recorded, the embedder, and the drain state."""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncEngine

from src.kit.middleware import InFlight
from src.kit.redis_link import RedisLink
from src.kit.settings import Settings
from src.retrieval.embedder import Embedder
from src.retrieval.store.readiness import StoreReadiness
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


def get_probed(request: Request) -> Probed:
    """Each field is read from the `app.state` attribute of the same name (the container publishes them)."""
    state = request.app.state
    return Probed(**{f.name: getattr(state, f.name) for f in fields(Probed)})


ProbedDep = Annotated[Probed, Depends(get_probed)]
