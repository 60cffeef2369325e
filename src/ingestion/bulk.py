"""Bulk indexing at the model's speed: chunks are pooled across documents, so the model sees full
batches of texts of similar length (embed() sorts each pool by length), and the next documents are
read and parsed while a pool is embedded.

Three stages run at once, each in its own thread: parse (plan), embed, write (commit). Writes keep
the single-document guarantees: a pool's new chunks are upserted before any of its documents' stale
chunks are deleted and before their registry rows are written, so a process killed at any moment
leaves a state that the next run completes exactly. Results are reported in input order.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Container, Iterable
from dataclasses import dataclass

import numpy as np
from anyio import to_thread

from src.ingestion.schemas import IndexMetadata
from src.ingestion.service import IndexingService, IndexOutcome, Plan
from src.kit.errors import AppError
from src.kit.metrics import stage
from src.retrieval.embedder import Vectors

# What fails one document and lets the others go on; anything else (the store down) stops the run.
DOCUMENT_ERRORS = (AppError, ValueError, UnicodeDecodeError)

Load = Callable[[], tuple[str | bytes, IndexMetadata]]
Report = Callable[[int, IndexOutcome | Exception], Awaitable[None]]


@dataclass
class _Planned:
    position: int
    plan: Plan
    lock: asyncio.Lock
    held: bool = True

    def free(self) -> None:
        if self.held:
            self.held = False
            self.lock.release()


@dataclass
class _Failed:
    position: int
    error: Exception


_FLUSH = object()  # embed and write what is pooled before the next document (a repeated source)
_END = object()


async def index_many(
    service: IndexingService, loads: Iterable[Load], report: Report, pool_chunks: int, allow_empty: Container[int] = ()
) -> None:
    """Index every document `loads` yields (each a blocking reader, run in a thread); `report` gets
    (position, outcome or the document's error) in input order. A document whose position is in
    `allow_empty` may be emptied; any other that would lose every chunk fails with EmptyReindex."""
    queue: asyncio.Queue[object] = asyncio.Queue(maxsize=max(8, pool_chunks // 4))

    async def produce() -> None:
        since_flush: set[str] = set()
        for position, load in enumerate(loads):
            try:
                content, meta = await to_thread.run_sync(load)
            except DOCUMENT_ERRORS as exc:
                await queue.put(_Failed(position, exc))
                continue
            if meta.source_file in since_flush:  # its lock is held by a pooled plan: write that first
                await queue.put(_FLUSH)
                since_flush.clear()
            lock = service.lock(meta.source_file)
            await lock.acquire()
            try:
                plan = await to_thread.run_sync(service.plan, content, meta, position in allow_empty)
            except DOCUMENT_ERRORS as exc:
                lock.release()
                await queue.put(_Failed(position, exc))
                continue
            except BaseException:
                lock.release()
                raise
            since_flush.add(meta.source_file)
            planned = _Planned(position, plan, lock)
            try:
                await queue.put(planned)
            except BaseException:
                planned.free()
                raise
        await queue.put(_END)

    producer = asyncio.get_running_loop().create_task(produce(), name="index-parse")
    writer: asyncio.Task[None] | None = None
    pooled: list[_Planned | _Failed] = []
    writing: list[_Planned | _Failed] = []
    chunks = 0  # to embed in the pool
    try:
        while True:
            item = await _next(queue, producer)
            if isinstance(item, _Planned | _Failed):
                pooled.append(item)
                chunks += len(item.plan.to_embed) if isinstance(item, _Planned) else 0
            if pooled and (item is _FLUSH or item is _END or chunks >= pool_chunks):
                vectors = await _embed(service, [p.plan for p in pooled if isinstance(p, _Planned)])
                if writer is not None:
                    await writer  # writes stay in input order
                writer = asyncio.get_running_loop().create_task(
                    _write(service, pooled, vectors, report), name="index-write"
                )
                writing, pooled, chunks = pooled, [], 0
            if item is _END:
                break
        if writer is not None:
            await writer
    finally:
        producer.cancel()
        if writer is not None and not writer.done():
            writer.cancel()
            await asyncio.gather(writer, return_exceptions=True)
        while not queue.empty():
            pooled.append(queue.get_nowait())  # type: ignore[arg-type]
        for p in [*writing, *pooled]:  # never written (or the write failed): free their sources
            if isinstance(p, _Planned):
                p.free()


async def preview_many(
    service: IndexingService, loads: Iterable[Load], report: Report, allow_empty: Container[int] = ()
) -> None:
    """A dry run of index_many: each document is read and planned (parsed, chunked, compared with the
    store) and `report` gets the outcome indexing would have, or the error it would fail with. Nothing
    is embedded or written."""
    for position, load in enumerate(loads):
        try:
            content, meta = await to_thread.run_sync(load)
            async with service.lock(meta.source_file):
                plan = await to_thread.run_sync(service.plan, content, meta, position in allow_empty)
        except DOCUMENT_ERRORS as exc:
            await report(position, exc)
        else:
            await report(position, service.preview(plan))


async def _next(queue: asyncio.Queue[object], producer: asyncio.Task[None]) -> object:
    """The next item, or the producer's own failure (a store that cannot be read) as soon as it happens."""
    getter = asyncio.ensure_future(queue.get())
    done, _ = await asyncio.wait({getter, producer}, return_when=asyncio.FIRST_COMPLETED)
    if getter in done:
        return getter.result()
    getter.cancel()
    producer.result()  # raises the producer's error
    return await queue.get()  # the producer ended normally: its _END is queued


async def _embed(service: IndexingService, plans: list[Plan]) -> list[Vectors]:
    """One model call over the whole pool, split back per document."""
    texts = [t for plan in plans for t in plan.texts]
    with stage("embed_documents"):
        if texts:
            vectors = await to_thread.run_sync(service.embedder.embed, texts, service.settings.embedding_batch_size)
        else:
            vectors = np.zeros((0, service.embedder.dimensions), dtype=np.float32)
    out, start = [], 0
    for plan in plans:
        out.append(vectors[start : start + len(plan.to_embed)])
        start += len(plan.to_embed)
    return out


async def _write(
    service: IndexingService, pooled: list[_Planned | _Failed], vectors: list[Vectors], report: Report
) -> None:
    planned = [p for p in pooled if isinstance(p, _Planned)]
    try:
        outcomes = iter(await service.commit([p.plan for p in planned], vectors))
    finally:
        for planned_one in planned:
            planned_one.free()
    for item in pooled:
        await report(item.position, item.error if isinstance(item, _Failed) else next(outcomes))
