"""Typed dependencies of the answering routes, read from `app.state`."""

from __future__ import annotations

from typing import Annotated

from src.answering.service import AnswerService
from src.kit.deps import from_state

AnswerServiceDep = Annotated[AnswerService, from_state("answers")]
