"""Typed dependencies of the indexing routes, read from `app.state`."""

from __future__ import annotations

from typing import Annotated

from src.ingestion.jobs import JobRunner
from src.ingestion.service import IndexingService
from src.kit.deps import from_state

IndexingServiceDep = Annotated[IndexingService, from_state("indexing")]
JobRunnerDep = Annotated[JobRunner, from_state("jobs")]
