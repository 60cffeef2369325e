"""The author's reports, one pydantic schema each: what readers asked over a window, what the book
failed to answer (grouped by meaning), chapter by chapter, and the answers readers disliked."""

from __future__ import annotations

from pydantic import BaseModel, Field

from src.retrieval.passage import Citation


class Window(BaseModel):
    since: str = Field(description="Start of the window (ISO 8601, UTC)")
    until: str = Field(description="End of the window (ISO 8601, UTC)")


class Counts(BaseModel):
    questions: int
    answered: int
    refused: int
    refused_rate: float
    thumbs_up: int
    thumbs_down: int
    degraded: int
    latency_p50_ms: float | None
    latency_p95_ms: float | None


class Day(Counts):
    day: str = Field(description="The day (YYYY-MM-DD, UTC)")


class Summary(BaseModel):
    window: Window
    total: Counts
    per_day: list[Day]


class Section(BaseModel):
    title: str | None
    section: str | None
    source_file: str | None
    url: str | None
    score: float = Field(description="Cosine similarity of the section to the group's questions")


class Gap(BaseModel):
    count: int = Field(description="Unanswered questions in the group")
    examples: list[str] = Field(description="The group's most central questions")
    chapters: list[str] = Field(
        description="Where readers asked: the chapters (or pages) of these questions, most frequent first"
    )
    pages: list[str]
    nearest_sections: list[Section] = Field(
        description="The book's sections closest to the group: where the missing text would go"
    )
    refused: int
    thumbs_down: int


class Gaps(BaseModel):
    window: Window
    unanswered: int = Field(
        description="Unanswered questions considered (refused, low confidence or down-voted; the most recent, bounded)"
    )
    groups: list[Gap]


class QuestionGroup(BaseModel):
    count: int
    examples: list[str]


class Chapter(BaseModel):
    chapter: str
    url: str | None = Field(
        description="The chapter's page in the book (where its recent questions' top citations point), or the reader's page"
    )
    questions: int
    refused: int
    refused_rate: float
    thumbs_down: int
    thumbs_down_rate: float
    top_groups: list[QuestionGroup]


class Chapters(BaseModel):
    window: Window
    chapters: list[Chapter] = Field(description="Ordered by refused rate, worst first")


class DislikedAnswer(BaseModel):
    answer_id: str
    question: str
    answer: str
    comment: str | None
    citations: list[Citation]
    chapter: str | None
    page: str | None
    asked_at: str
    rated_at: str | None


class Feedback(BaseModel):
    window: Window
    count: int
    answers: list[DislikedAnswer] = Field(description="Down-voted answers, the most recent first")
