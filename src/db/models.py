"""The relational schema. Alembic migrations in `migrations/` create it; tests build it the same way."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    false,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


# The API accepts session ids of 8-64 characters (src/sessions/schemas.py SESSION_ID_PATTERN).
SESSION_ID_LENGTH = 64


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class UserSession(Base):
    __tablename__ = "user_sessions"

    id: Mapped[str] = mapped_column(String(SESSION_ID_LENGTH), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    last_active_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)
    messages: Mapped[list[Message]] = relationship(
        back_populates="session", cascade="all, delete-orphan", passive_deletes=True
    )


class Message(Base):
    __tablename__ = "messages"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)  # the answer_id clients see
    session_id: Mapped[str] = mapped_column(
        String(SESSION_ID_LENGTH), ForeignKey("user_sessions.id", ondelete="CASCADE"), index=True
    )
    question: Mapped[str] = mapped_column(Text)
    answer: Mapped[str] = mapped_column(Text)
    citations: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    provider: Mapped[str] = mapped_column(String(32))
    latency_ms: Mapped[float] = mapped_column(Float)
    prompt_tokens: Mapped[int] = mapped_column(Integer, default=0)
    completion_tokens: Mapped[int] = mapped_column(Integer, default=0)
    refused: Mapped[bool] = mapped_column(Boolean, default=False)
    confidence: Mapped[float] = mapped_column(Float, default=0.0)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    standalone_question: Mapped[str | None] = mapped_column(
        Text, nullable=True
    )  # a follow-up as it was resolved and searched
    page: Mapped[str | None] = mapped_column(String(2048), nullable=True)  # the page the reader was on
    # For the author's reports: how the turn was answered, and where in the book it landed.
    route: Mapped[str] = mapped_column(
        String(16), default="book", server_default="book"
    )  # book | selection | smalltalk | out_of_scope
    selection_mode: Mapped[str | None] = mapped_column(
        String(16), nullable=True
    )  # selection_only | book, for a highlighted passage
    degraded: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    top_source_file: Mapped[str | None] = mapped_column(
        String(1024), nullable=True
    )  # the top citation's (or, refused, the closest section's)
    top_chapter: Mapped[str | None] = mapped_column(Text, nullable=True)
    top_section: Mapped[str | None] = mapped_column(Text, nullable=True)
    top_url: Mapped[str | None] = mapped_column(String(2048), nullable=True)  # the top citation's url#anchor
    question_vector: Mapped[bytes | None] = mapped_column(
        LargeBinary, nullable=True
    )  # the searched question's embedding, float16
    rating: Mapped[str | None] = mapped_column(
        String(8), nullable=True
    )  # the reader's latest rating (up | down), kept with feedback
    session: Mapped[UserSession] = relationship(back_populates="messages")

    __table_args__ = (
        Index("ix_messages_session_created", "session_id", "created_at"),
        # The reports read a window of turns from these alone (covering indexes: no table rows are read).
        Index("ix_messages_report", "created_at", "route", "refused", "degraded", "rating", "latency_ms"),
        Index("ix_messages_chapter_report", "created_at", "route", "top_chapter", "page", "refused", "rating"),
        # A chapter's (or, with no citation, a page's) latest questions.
        Index("ix_messages_top_chapter_created", "top_chapter", "created_at"),
        Index("ix_messages_page_created", "page", "created_at"),
    )


class Feedback(Base):
    __tablename__ = "feedback"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    message_id: Mapped[str] = mapped_column(ForeignKey("messages.id", ondelete="CASCADE"), index=True)
    rating: Mapped[str] = mapped_column(String(8))
    comment: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class IndexedDocument(Base):
    """The registry of what is indexed: one row per source file."""

    __tablename__ = "indexed_documents"

    source_file: Mapped[str] = mapped_column(String(1024), primary_key=True)
    content_id: Mapped[str] = mapped_column(String(36), index=True)
    content_hash: Mapped[str] = mapped_column(String(64))
    title: Mapped[str | None] = mapped_column(Text, nullable=True)
    document_type: Mapped[str] = mapped_column(String(16))
    chunk_count: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16), default="indexed")
    indexed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class IndexJob(Base):
    """A bulk indexing job: documents indexed in the background, progress readable from any worker."""

    __tablename__ = "index_jobs"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    status: Mapped[str] = mapped_column(String(16))  # queued | running | completed | failed
    total: Mapped[int] = mapped_column(Integer)
    done: Mapped[int] = mapped_column(Integer, default=0)
    failed: Mapped[int] = mapped_column(Integer, default=0)
    results: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
