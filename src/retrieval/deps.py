"""Typed dependencies of the retrieval routes, read from `app.state`."""

from __future__ import annotations

from typing import Annotated

from src.kit.deps import from_state
from src.retrieval.embedder import Embedder
from src.retrieval.service import RetrievalService
from src.retrieval.store.readiness import StoreReadiness

RetrievalServiceDep = Annotated[RetrievalService, from_state("retrieval")]
StoreStateDep = Annotated[StoreReadiness, from_state("store_state")]
EmbedderDep = Annotated[Embedder, from_state("embedder")]
