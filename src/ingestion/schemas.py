"""Request and response bodies for indexing."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AliasChoices, BaseModel, BeforeValidator, ConfigDict, Field, field_validator

from src.ingestion.sites import Generator
from src.security.inputs import validate_source_file

DocumentType = Literal["markdown", "rst", "html", "text", "pdf"]
Site = Generator  # the site generator whose heading anchors and page URLs a document follows
JobState = Literal["queued", "running", "completed", "failed"]


def _no_nul(value: str | None) -> str | None:
    """NUL means nothing in text, and PostgreSQL cannot store it: refused (422) like NUL in a question."""
    if value is not None and "\x00" in value:
        raise ValueError("must not contain NUL characters")
    return value


class IndexMetadata(BaseModel):
    model_config = ConfigDict(extra="forbid")

    source_file: str = Field(
        min_length=1, max_length=1024, description="The book-relative path, e.g. docs/07-gazebo/index.md"
    )
    title: str | None = Field(default=None, max_length=500)
    section: str | None = Field(default=None, max_length=500)
    chapter: str | None = Field(default=None, max_length=500)
    chapter_number: int | None = Field(default=None, ge=0, le=10_000)
    url: str | None = Field(
        default=None, max_length=2048, description="The page's URL; chunk links add the heading anchor"
    )
    document_type: DocumentType = Field(default="markdown", description="pdf content is base64-encoded")
    site: Site | None = Field(
        default=None, description="The site generator, for heading anchors (default: docusaurus rules)"
    )

    @field_validator("source_file")
    @classmethod
    def _safe_path(cls, value: str) -> str:
        return validate_source_file(value)

    @field_validator("title", "section", "chapter")
    @classmethod
    def _no_nul_text(cls, value: str | None) -> str | None:
        return _no_nul(value)

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if not (value.startswith(("http://", "https://", "/")) and not any(c in value for c in '\x00\r\n <>"')):
            raise ValueError("url must be an http(s) URL or a site-relative path starting with /")
        return value


class IndexRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    content: str = Field(min_length=1)
    metadata: IndexMetadata
    allow_empty: bool = Field(
        default=False,
        description=(
            "Let a re-index remove every chunk of an indexed document (content with no text to index). Without it such a"
            " re-index is refused with 422 and changes nothing; DELETE /api/v1/index/{source_file} removes a page."
        ),
    )

    @field_validator("content")
    @classmethod
    def _no_nul_content(cls, value: str) -> str:
        _no_nul(value)
        return value


class IndexResponse(BaseModel):
    status: Literal["indexed", "unchanged"]
    indexed_chunks: int
    content_id: str
    processing_time: float = Field(description="Seconds")
    chunks_new: int
    chunks_unchanged: int
    chunks_deleted: int


class DeleteResponse(BaseModel):
    status: Literal["deleted"]
    source_file: str
    deleted_chunks: int


def _iso(value: object) -> object:
    return value.isoformat() if isinstance(value, datetime) else value


IsoTime = Annotated[str, BeforeValidator(_iso)]  # a stored timestamp, shown as ISO 8601


class DocumentInfo(BaseModel):
    """A registry row as clients see it (`DocumentInfo.model_validate(row)`)."""

    model_config = ConfigDict(from_attributes=True)

    source_file: str
    content_id: str
    title: str | None
    document_type: str
    chunk_count: int
    content_hash: str
    status: str
    indexed_at: IsoTime


class DocumentList(BaseModel):
    documents: list[DocumentInfo]
    total: int


class BulkIndexRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    documents: list[IndexRequest] = Field(min_length=1, max_length=1000)


class JobAccepted(BaseModel):
    job_id: str
    status: Literal["queued"]
    total: int
    status_url: str


class JobStatus(BaseModel):
    """A bulk job's row as clients see it (`JobStatus.model_validate(row)`)."""

    model_config = ConfigDict(from_attributes=True)

    job_id: str = Field(validation_alias=AliasChoices("job_id", "id"))
    status: JobState
    total: int
    done: int
    failed: int
    results: list[dict[str, Any]]
    error: str | None
    created_at: IsoTime
    updated_at: IsoTime
