"""Request and response bodies for answers."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from src.retrieval.schemas import Filters, RetrievedContext
from src.security.text import validate_question

SESSION_ID_PATTERN = r"^[A-Za-z0-9_-]{8,64}$"


class AnswerRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    question: str = Field(min_length=1, max_length=10_000)
    k: int = Field(default=5, ge=1, le=50)
    session_id: str | None = Field(default=None, pattern=SESSION_ID_PATTERN, description="Links turns; omit to start a session")
    filters: Filters | None = None

    @field_validator("question")
    @classmethod
    def _question(cls, value: str) -> str:
        return validate_question(value)


class Citation(BaseModel):
    id: int = Field(description="The n of [n] in the answer")
    chunk_id: str
    source_file: str | None
    title: str | None
    section: str | None
    heading_path: list[str]
    url: str | None
    quote: str


class AnswerResponse(BaseModel):
    answer_id: str
    session_id: str
    answer: str
    citations: list[Citation]
    retrieved_contexts: list[RetrievedContext]
    confidence_score: float
    refused: bool
    provider: str
    latency_ms: float

    def to_cache(self) -> dict[str, Any]:
        return self.model_dump()
