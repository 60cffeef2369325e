"""Request and response bodies for answers."""

from __future__ import annotations

from typing import Literal

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, field_validator, model_validator

from src.answering.routes import Route
from src.answering.showing import AnswerBlock
from src.retrieval.passage import Citation
from src.retrieval.schemas import Filters, RetrievedContext
from src.security.inputs import validate_question
from src.sessions.schemas import SESSION_ID_PATTERN

# What a client may send, sized to what a reader needs. A question: a quiz's whole scenario, or a pasted
# jailbreak refused as one. A selection: a section of the book (99.6% of the shared books' sections are
# shorter, code aside; about 1,300 words). Longer is 422, before any work is done on it.
MAX_QUESTION_CHARS = 10_000
MAX_SELECTION_CHARS = 8_000
MAX_PAGE_CHARS = 2048


class AnswerRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    question: str = Field(min_length=1, max_length=MAX_QUESTION_CHARS)
    k: int = Field(default=5, ge=1, le=50)
    session_id: str | None = Field(
        default=None, pattern=SESSION_ID_PATTERN, description="Links turns; omit to start a session"
    )
    filters: Filters | None = None
    selected_text: str | None = Field(
        default=None,
        max_length=MAX_SELECTION_CHARS,
        validation_alias=AliasChoices("selected_text", "highlight_override"),
        description="A passage the student highlighted (`highlight_override` is accepted too), up to a section of the book",
    )
    mode: Literal["book", "selection_only"] = Field(
        default="book",
        description="book: the selection first, the book for the rest; selection_only: answer from the selection alone",
    )
    page: str | None = Field(
        default=None,
        max_length=MAX_PAGE_CHARS,
        description="The page the reader is on (its URL or source_file): preferred by the search, and recorded with the turn",
    )

    @field_validator("question")
    @classmethod
    def _question(cls, value: str) -> str:
        return validate_question(value)

    @field_validator("selected_text")
    @classmethod
    def _selection(cls, value: str | None) -> str | None:
        return None if value is None or not value.strip() else validate_question(value)

    @field_validator("page")
    @classmethod
    def _page(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        if any(c in value for c in '\x00\r\n<>"') or any(ord(c) < 32 for c in value):
            raise ValueError("page must be a URL or a source_file path, without control characters")
        return value.strip()

    @model_validator(mode="after")
    def _selection_needed(self) -> AnswerRequest:
        if self.mode == "selection_only" and not self.selected_text:
            raise ValueError("mode selection_only needs selected_text")
        return self


class Closest(BaseModel):
    """A section of the book near what a refused question asks: where the student may look instead."""

    title: str | None = Field(description="The page's title (its file when it has none)")
    section: str | None = Field(description="The section's heading (the same as the title for a page's opening)")
    url: str | None = Field(description="The section's link, when the book has one")


class Refusal(BaseModel):
    """Why an answer is a refusal, for a client to say it in its own words and language."""

    model_config = ConfigDict(json_schema_serialization_defaults_required=True)  # every field is sent

    reason: Literal["not_covered", "not_mentioned", "not_in_selection", "no_example", "off_task"] = Field(
        description=(
            "not_covered: the book does not cover the question; not_mentioned: the book never names `names`; "
            "not_in_selection: the highlighted passage does not answer it (selection_only); no_example: the passage "
            "gives no example (selection_only); off_task: not a question about the book (an errand, creative writing, "
            "an attempt at the instructions)"
        )
    )
    names: list[str] = Field(
        default_factory=list, description="not_mentioned: the names the book never uses, as the student wrote them"
    )
    closest: list[Closest] = Field(
        default_factory=list, description="The closest sections of the book, best first (up to 3)"
    )


class AnswerResponse(BaseModel):
    answer_id: str
    session_id: str
    answer: str
    citations: list[Citation]
    blocks: list[AnswerBlock] = Field(
        default_factory=list,
        description="The book's blocks the answer shows whole (code, lists, tables, math, figures), in the order `answer` holds their Markdown",
    )
    retrieved_contexts: list[RetrievedContext]
    confidence_score: float
    refused: bool
    provider: str
    latency_ms: float
    route: Route = Field(default=Route.BOOK, description="How the turn was answered")
    degraded: bool = Field(
        default=False, description="The model was too slow or failed: this is the extractive answer instead"
    )
    removed_sentences: int = Field(
        default=0, description="Sentences of the model's answer the grounding checker removed as unsupported"
    )
    partial: bool = Field(
        default=False,
        description="The model's answer is shown in part: sentences the book does not support were left out "
        "(`removed_sentences`), or it was cut at its time cap",
    )
    standalone_question: str | None = Field(
        default=None,
        description="A follow-up rewritten to stand alone from the conversation (what was searched); null when the question stood alone",
    )
    refusal: Refusal | None = Field(
        default=None,
        description="Why the answer is a refusal (`answer` says it in English); null when it is not one (small talk included)",
    )
