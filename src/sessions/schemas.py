"""Request and response bodies for sessions and feedback."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from src.retrieval.passage import Citation
from src.security.inputs import validate_question

# A session id is a client-held capability the service makes (32 hex characters); ids clients chose before
# (8 to 64 of these characters) still name their sessions, but no new session takes one.
SESSION_ID_PATTERN = r"^[A-Za-z0-9_-]{8,64}$"
# An answer id is a recorded message's id (`messages.id`, 36 characters at most); the service makes uuid4 hex.
ANSWER_ID_PATTERN = r"^[A-Za-z0-9_-]{8,36}$"


class Turn(BaseModel):
    answer_id: str
    question: str
    standalone_question: str | None = Field(
        default=None, description="The question as it was resolved against the conversation, when it was a follow-up"
    )
    answer: str
    citations: list[Citation]
    refused: bool
    created_at: str


class SessionHistory(BaseModel):
    session_id: str
    created_at: str
    last_active_at: str
    messages: list[Turn]


class SessionDeleted(BaseModel):
    status: Literal["deleted"]
    session_id: str
    deleted_messages: int


class FeedbackRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    answer_id: str = Field(pattern=ANSWER_ID_PATTERN, description="The answer_id of an answer")
    rating: Literal["up", "down"]
    comment: str | None = Field(default=None, max_length=2000)

    @field_validator("comment")
    @classmethod
    def _visible_text(cls, value: str | None) -> str | None:
        return None if value is None or not value.strip() else validate_question(value)


class FeedbackRecorded(BaseModel):
    status: Literal["recorded"]
    feedback_id: int
    answer_id: str
