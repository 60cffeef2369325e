"""Request and response bodies for retrieval."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from src.retrieval.fusion import Fused
from src.retrieval.passage import SELECTION_ID, Passage
from src.retrieval.store.base import SearchFilter
from src.security.inputs import validate_question, validate_source_file

# Filters name what can be indexed (ingestion's limits: a source_file of 1,024 characters, a chapter of
# 500), and a few files at a time; each path is checked character by character, so its length is bounded first.
MAX_SOURCE_FILE_CHARS = 1024
MAX_FILTER_FILES = 100
MAX_CHAPTER_CHARS = 500
SourceFile = Annotated[str, Field(min_length=1, max_length=MAX_SOURCE_FILE_CHARS)]


class Filters(BaseModel):
    model_config = ConfigDict(extra="forbid")

    source_file: SourceFile | Annotated[list[SourceFile], Field(max_length=MAX_FILTER_FILES)] | None = Field(
        default=None, description="One book-relative path or several (at most 100)"
    )
    chapter: str | None = Field(default=None, max_length=MAX_CHAPTER_CHARS)
    up_to_chapter: int | None = Field(
        default=None, ge=0, le=10_000, description="Only chapters numbered up to this one"
    )

    @field_validator("source_file")
    @classmethod
    def _paths(cls, value: str | list[str] | None) -> str | list[str] | None:
        if value is None:
            return None
        values = [value] if isinstance(value, str) else value
        for v in values:
            validate_source_file(v)
        return value

    def to_search_filter(self) -> SearchFilter:
        files = (
            ()
            if self.source_file is None
            else ((self.source_file,) if isinstance(self.source_file, str) else tuple(self.source_file))
        )
        return SearchFilter(source_files=files, chapter=self.chapter, up_to_chapter=self.up_to_chapter)


class QueryRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    question: str = Field(min_length=1, max_length=10_000)
    k: int = Field(default=5, ge=1, le=50)
    filters: Filters | None = None

    @field_validator("question")
    @classmethod
    def _question(cls, value: str) -> str:
        return validate_question(value)


class RetrievedContext(BaseModel):
    chunk_id: str
    content: str
    score: float
    metadata: dict[str, Any]

    def passage(self) -> Passage:
        """The passage again, from what a client was sent (a cached answer keeps only this)."""
        if self.chunk_id == SELECTION_ID:
            return Passage.selection(self.content)
        return Passage.from_payload({**self.metadata, "content": self.content})


def to_context(hit: Fused) -> RetrievedContext:
    """A ranked chunk as clients see it: its text, score and metadata (without the internal hash)."""
    return RetrievedContext(
        chunk_id=hit.id, content=hit.passage.content, score=hit.score, metadata=hit.passage.metadata()
    )


class QueryResponse(BaseModel):
    query_id: str
    retrieved_contexts: list[RetrievedContext]
    assembled_context: str
    latency_ms: float
