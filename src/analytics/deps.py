"""Typed dependencies of the report routes, read from `app.state`."""

from __future__ import annotations

from typing import Annotated

from src.analytics.service import AnalyticsService
from src.kit.deps import from_state

AnalyticsServiceDep = Annotated[AnalyticsService, from_state("analytics")]
