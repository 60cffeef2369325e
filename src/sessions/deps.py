"""Typed dependencies of the session routes, read from `app.state`."""

from __future__ import annotations

from typing import Annotated

from src.kit.deps import from_state
from src.sessions.recorder import TurnRecorder

RecorderDep = Annotated[TurnRecorder, from_state("recorder")]
