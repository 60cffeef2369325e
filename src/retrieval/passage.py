"""A passage: the fields a chunk of the book is stored with (the vector store's payload), typed. Only
this module reads or writes a payload by key (`make lint` refuses `payload.get(` and `payload[` elsewhere):
ingestion writes through `Passage.to_payload`, and retrieval hands out hits that carry a `Passage`.

A `Citation` is what an answer's [n] points to: a passage and the sentences quoted from it. It lives
here, beside the passage it quotes, because answering makes it and sessions and analytics read it back."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

PassageKind = Literal["book", "selection"]
# What a stored passage's text keeps. 2: its blocks as Markdown (fenced code with its language, pipe tables,
# list items, `$$` math, figures), MDX components dropped; 0: an index written before passages had a format.
PASSAGE_FORMAT = 2
SELECTION_ID = "selection"  # the chunk id of the student's highlighted passage, as clients have always seen it


@dataclass(frozen=True)
class Passage:
    """A chunk of the book as stored, or (`kind="selection"`) the passage the student highlighted. A hit
    read with only some payload fields (a search's candidates) has the others at their defaults."""

    content: str = ""
    source_file: str | None = None
    title: str | None = None  # the page's title (its file when it has none)
    section: str | None = None  # the heading the chunk is under
    heading_path: tuple[str, ...] = ()
    url: str | None = None  # the page's link with the section's anchor
    chapter: str | None = None
    chapter_number: int | None = None
    content_id: str | None = None
    anchor: str | None = None
    position: int | None = None
    page: int | None = None  # a PDF's page
    token_count: int | None = None
    document_type: str | None = None
    chunk_hash: str = ""  # the chunk's text and document fields, hashed: an unchanged chunk keeps its vector
    format: int = 0  # PASSAGE_FORMAT when it was stored (0: before formats)
    kind: PassageKind = "book"  # never stored: the selection is not indexed

    def to_payload(self) -> dict[str, Any]:
        """The payload stored with the chunk (the optional chapter number, page and format only when known)."""
        payload: dict[str, Any] = {
            "source_file": self.source_file,
            "content_id": self.content_id,
            "title": self.title,
            "chapter": self.chapter,
            "section": self.section,
            "heading_path": list(self.heading_path),
            "anchor": self.anchor,
            "url": self.url,
            "position": self.position,
            "content": self.content,
            "chunk_hash": self.chunk_hash,
            "token_count": self.token_count,
            "document_type": self.document_type,
        }
        if self.chapter_number is not None:
            payload["chapter_number"] = self.chapter_number
        if self.page is not None:
            payload["page"] = self.page
        if self.format:
            payload["format"] = self.format
        return payload

    @classmethod
    def from_payload(cls, payload: Mapping[str, Any]) -> Passage:
        """A stored payload (all of it, or the fields a search asked for) as a passage."""
        get = payload.get
        return cls(
            content=str(get("content") or ""),
            source_file=get("source_file"),
            title=get("title"),
            section=get("section"),
            heading_path=tuple(get("heading_path") or ()),
            url=get("url"),
            chapter=get("chapter"),
            chapter_number=get("chapter_number"),
            content_id=get("content_id"),
            anchor=get("anchor"),
            position=get("position"),
            page=get("page"),
            token_count=get("token_count"),
            document_type=get("document_type"),
            chunk_hash=str(get("chunk_hash") or ""),
            format=int(get("format") or 0),
        )

    @classmethod
    def selection(cls, text: str) -> Passage:
        return cls(content=text, title="Selected text", section="Selected text", kind="selection")

    @property
    def book(self) -> str:
        """Which book the passage is from, when several share one index (`rust-book/src/...`): its top folder."""
        source = self.source_file or ""
        return source.split("/", 1)[0] if "/" in source else ""

    def metadata(self) -> dict[str, Any]:
        """What a client sees of the passage besides its text: its stored fields without the internal hash;
        for the selection, the fields that say where it is shown."""
        if self.kind == "selection":
            return {"title": self.title, "section": self.section, "source_file": None, "url": None, "heading_path": []}
        return {k: v for k, v in self.to_payload().items() if k not in ("content", "chunk_hash", "format")}


class Citation(BaseModel):
    # Every field is sent; the defaults read a turn an earlier release stored with fewer of them.
    model_config = ConfigDict(json_schema_serialization_defaults_required=True)

    id: int = Field(description="The n of [n] in the answer")
    chunk_id: str
    source_file: str | None = None
    title: str | None = None
    section: str | None = None
    heading_path: list[str] = Field(default_factory=list)
    url: str | None = None
    quote: str = ""
    kind: PassageKind = Field(
        default="book",
        description="book: a passage of the book; selection: the passage the student highlighted (its chunk_id is `selection`)",
    )

    @model_validator(mode="before")
    @classmethod
    def _kind_of_stored(cls, data: object) -> object:
        """A citation stored before `kind` existed: the highlighted passage was known by its chunk id alone."""
        if isinstance(data, dict) and "kind" not in data and data.get("chunk_id") == SELECTION_ID:
            return {**data, "kind": "selection"}
        return data

    @classmethod
    def of(cls, n: int, chunk_id: str, passage: Passage, quotes: list[str]) -> Citation:
        """Citation `n`: the passage, and what the answer quotes of it."""
        return cls(
            id=n,
            chunk_id=chunk_id,
            source_file=passage.source_file,
            title=passage.title,
            section=passage.section,
            heading_path=list(passage.heading_path),
            url=passage.url,
            quote=" ".join(quotes),
            kind=passage.kind,
        )
