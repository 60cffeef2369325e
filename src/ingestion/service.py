"""Indexing: parse, chunk, embed what changed, upsert, delete what no longer exists, record.

Idempotent and crash-safe: chunk ids are uuid5 of (source file, position, content hash), so a
re-run computes the same ids. The store itself is the truth about which ids a source has, so a
run interrupted anywhere is completed by the next one: new ids are upserted first, stale ids
are deleted after, and the registry row is written last.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import re
import time
from collections import defaultdict
from dataclasses import dataclass

from anyio import to_thread
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from src.ingestion.chunking import Chunk, chunk_document
from src.ingestion.document import DocumentCaps, ParsedDocument
from src.ingestion.parsers import parse_document
from src.ingestion.passages import content_id_for, passages_of
from src.ingestion.pdf import UnreadablePdf
from src.ingestion.repository import DocumentRepository
from src.ingestion.sandbox import SandboxLimits
from src.ingestion.schemas import IndexMetadata
from src.kit.cache import Cache
from src.kit.db import transaction
from src.kit.errors import InvalidInput, NotFound
from src.kit.logging import get_logger
from src.kit.metrics import stage
from src.kit.settings import Settings
from src.retrieval.embedder import Embedder, Vectors
from src.retrieval.passage import Passage
from src.retrieval.sparse import SparseEncoder
from src.retrieval.store.base import StoredChunk, VectorStore

log = get_logger(__name__)


def decode_pdf_upload(content: str) -> bytes:
    """PDFs arrive over JSON base64-encoded."""
    try:
        data = base64.b64decode(content, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise UnreadablePdf("pdf content must be base64-encoded") from exc
    if not data.startswith(b"%PDF"):
        raise UnreadablePdf("content is not a PDF file")
    return data


class DocumentNotFound(NotFound):
    """Nothing is indexed under that source_file."""


class EmptyReindex(InvalidInput):
    """A re-index that would take a document from some chunks to none. Content that parses to nothing
    (a comment, whitespace, a page whose text is all navigation, a scanned PDF) is far more often a
    broken upload than a page emptied on purpose, so it is refused unless the caller says so
    (allow_empty); DELETE is the way to remove a page."""

    def __init__(self, source_file: str, chunks: int) -> None:
        self.source_file = source_file
        self.chunks = chunks
        self.reason = f"would remove all {chunks} chunks of {source_file}: the new content has no text to index"
        message = f"{self.reason}; send allow_empty: true, or DELETE the document"
        super().__init__(message, [{"loc": ["body", "content"], "msg": message, "type": "empty_reindex"}])


@dataclass(frozen=True)
class IndexOutcome:
    status: str
    indexed_chunks: int
    content_id: str
    processing_time: float
    chunks_new: int
    chunks_unchanged: int
    chunks_deleted: int
    chunks_embedded: int = 0


@dataclass
class Plan:
    """What indexing one document will write: its chunks, which are new, which are stale, and which
    of the new ones need the model (the others keep a stored vector)."""

    meta: IndexMetadata
    started: float
    content_hash: str
    title: str | None
    by_id: dict[str, tuple[Passage, str]]  # chunk id -> (passage, text to embed)
    fresh: list[str]
    stale: list[str]
    to_embed: list[str]
    reused: dict[str, list[float]]

    @property
    def texts(self) -> list[str]:
        return [self.by_id[cid][1] for cid in self.to_embed]


class IndexingService:
    def __init__(
        self,
        settings: Settings,
        embedder: Embedder,
        sparse: SparseEncoder,
        store: VectorStore,
        db: async_sessionmaker[AsyncSession],
        cache: Cache,
    ) -> None:
        self.settings = settings
        self.embedder = embedder
        self.sparse = sparse
        self.store = store
        self.db = db
        self.cache = cache
        self._locks: defaultdict[str, asyncio.Lock] = defaultdict(asyncio.Lock)
        self._optimizing = False

    def prepare(self, content: str | bytes, meta: IndexMetadata) -> tuple[ParsedDocument, list[Chunk]]:
        """Parse (PDF and HTML in a child process with limits) and chunk, within the document caps: a
        document past one, or one its parser cannot read, raises an UnreadableDocument (422)."""
        caps = DocumentCaps.of(self.settings)
        doc = parse_document(meta.document_type, content, meta.title, meta.site, caps, SandboxLimits.of(self.settings))
        if meta.title:
            doc.title = meta.title
        if not doc.title:  # a page without any heading: name it after its file
            stem = meta.source_file.rsplit("/", 1)[-1].rsplit(".", 1)[0]
            doc.title = re.sub(r"[-_]+", " ", stem).strip().capitalize() or meta.source_file
        chunks = chunk_document(
            doc, self.settings.chunk_max_tokens, self.settings.chunk_overlap_tokens, self.embedder.count_tokens, caps
        )
        return doc, chunks

    def passages(self, doc: ParsedDocument, chunks: list[Chunk], meta: IndexMetadata) -> list[tuple[str, Passage]]:
        """Each chunk's id and the passage stored with it."""
        return passages_of(doc, chunks, meta)

    def plan(self, content: str | bytes, meta: IndexMetadata, allow_empty: bool = False) -> Plan:
        """Parse, chunk and compare with the store (blocking: run it in a thread). The caller holds
        the source's lock from here until commit(). Raises EmptyReindex, before anything is written,
        when the document has chunks and the content has none, unless `allow_empty`."""
        started = time.perf_counter()
        if meta.document_type == "pdf" and isinstance(content, str):
            content = decode_pdf_upload(content)
        raw = content if isinstance(content, bytes) else content.encode()
        content_hash = hashlib.sha256(meta.model_dump_json().encode() + b"\x00" + raw).hexdigest()
        with stage("parse"):
            doc, chunks = self.prepare(content, meta)
        planned = self.passages(doc, chunks, meta)
        by_id = {cid: (passage, chunk.embed_text) for (cid, passage), chunk in zip(planned, chunks, strict=True)}
        existing = self.store.chunks_of_source(meta.source_file)
        if existing and not by_id and not allow_empty:
            raise EmptyReindex(meta.source_file, len(existing))
        fresh = [cid for cid in by_id if cid not in existing]
        stale = sorted(existing.keys() - by_id.keys())
        # A chunk that only moved (same text and document fields, new position) keeps its vector.
        by_hash = {h: cid for cid, h in existing.items() if h}
        reusable = {cid: by_hash[by_id[cid][0].chunk_hash] for cid in fresh if by_id[cid][0].chunk_hash in by_hash}
        reused = self.store.dense_vectors(sorted(set(reusable.values())))
        to_embed = [cid for cid in fresh if reusable.get(cid) not in reused]
        return Plan(
            meta=meta,
            started=started,
            content_hash=content_hash,
            title=doc.title or None,
            by_id=by_id,
            fresh=fresh,
            stale=stale,
            to_embed=to_embed,
            reused={cid: reused[old] for cid, old in reusable.items() if old in reused},
        )

    def records(self, plan: Plan, vectors: Vectors) -> list[StoredChunk]:
        """The plan's new chunks with their vectors (`vectors` rows follow plan.to_embed)."""
        dense = {cid: vectors[i].tolist() for i, cid in enumerate(plan.to_embed)} | plan.reused
        return [
            StoredChunk(
                id=cid,
                dense=dense[cid],
                sparse=self.sparse.document(plan.by_id[cid][1]),
                payload=plan.by_id[cid][0].to_payload(),
            )
            for cid in plan.fresh
        ]

    async def commit(self, plans: list[Plan], vectors: list[Vectors]) -> list[IndexOutcome]:
        """Write planned documents: every new chunk first (one upsert), then per document its stale
        chunks removed and its registry row, the row last. A crash anywhere leaves a state the next
        run completes, because the next plan() reads the store again."""

        def write_new_chunks() -> None:  # sparse encoding of a whole pool is CPU work: off the event loop
            self.store.upsert([r for plan, v in zip(plans, vectors, strict=True) for r in self.records(plan, v)])

        with stage("upsert"):
            await to_thread.run_sync(write_new_chunks)
        outcomes = []
        for plan in plans:
            await to_thread.run_sync(self.store.delete, plan.stale)
            async with transaction(self.db) as session:
                await DocumentRepository(session).save(
                    source_file=plan.meta.source_file,
                    content_id=content_id_for(plan.meta.source_file),
                    content_hash=plan.content_hash,
                    title=plan.title,
                    document_type=plan.meta.document_type,
                    chunk_count=len(plan.by_id),
                )
            outcomes.append(self._outcome(plan))
        if any(plan.fresh or plan.stale for plan in plans):
            await self.cache.bump_index_version()
            self._maybe_optimize()
        return outcomes

    def preview(self, plan: Plan) -> IndexOutcome:
        """What commit() will report for the plan (a dry run reports it without writing)."""
        return IndexOutcome(
            status="indexed" if plan.fresh or plan.stale else "unchanged",
            indexed_chunks=len(plan.by_id),
            content_id=content_id_for(plan.meta.source_file),
            processing_time=round(time.perf_counter() - plan.started, 4),
            chunks_new=len(plan.fresh),
            chunks_unchanged=len(plan.by_id) - len(plan.fresh),
            chunks_deleted=len(plan.stale),
            chunks_embedded=len(plan.to_embed),
        )

    def _outcome(self, plan: Plan) -> IndexOutcome:
        outcome = self.preview(plan)
        log.info(
            "DOCUMENT_INDEXED",
            source_file=plan.meta.source_file,
            chunks=len(plan.by_id),
            new=len(plan.fresh),
            embedded=len(plan.to_embed),
            deleted=len(plan.stale),
            seconds=outcome.processing_time,
        )
        return outcome

    def lock(self, source_file: str) -> asyncio.Lock:
        """Held from plan() to commit(): one writer per source at a time."""
        return self._locks[source_file]

    async def index(self, content: str | bytes, meta: IndexMetadata, allow_empty: bool = False) -> IndexOutcome:
        """One document (POST /api/v1/index). Many documents go through bulk.index_many."""
        async with self.lock(meta.source_file):
            plan = await to_thread.run_sync(self.plan, content, meta, allow_empty)
            with stage("embed_documents"):
                vectors = await to_thread.run_sync(self.embedder.embed, plan.texts, self.settings.embedding_batch_size)
            return (await self.commit([plan], [vectors]))[0]

    async def delete(self, source_file: str) -> int:
        """Remove a source's chunks and its registry row. Returns how many chunks were removed; raises
        DocumentNotFound when neither the store nor the registry knows the file."""
        async with self._locks[source_file]:
            existing = await to_thread.run_sync(self.store.ids_for_source, source_file)
            await to_thread.run_sync(self.store.delete, sorted(existing))
            async with transaction(self.db) as session:
                registered = await DocumentRepository(session).delete(source_file)
        if not existing and not registered:
            raise DocumentNotFound(f"Nothing is indexed under source_file {source_file!r}.")
        await self.cache.bump_index_version()
        log.info("DOCUMENT_DELETED", source_file=source_file, chunks=len(existing))
        return len(existing)

    async def optimize_now(self) -> None:
        with stage("optimize"):
            await to_thread.run_sync(self.store.optimize)

    def _maybe_optimize(self) -> None:
        """Build the HNSW index in the background once enough points are written (embedded engine)."""
        if self._optimizing or not self.store.needs_optimize():
            return
        self._optimizing = True

        async def run() -> None:
            try:
                with stage("optimize"):
                    await to_thread.run_sync(self.store.optimize)
            finally:
                self._optimizing = False

        task = asyncio.get_running_loop().create_task(run())
        task.add_done_callback(lambda t: t.exception() and log.error("OPTIMIZE_FAILED", error=str(t.exception())))
