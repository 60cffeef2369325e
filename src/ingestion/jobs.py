"""Bulk indexing in the background: a job row records progress (any worker can report it) while
this worker indexes the documents, their chunks pooled per model call (ingestion/bulk.py), with the
guarantees of POST /api/v1/index."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from src.ingestion.bulk import Load, index_many
from src.ingestion.repository import JobRepository
from src.ingestion.schemas import IndexMetadata, IndexRequest
from src.ingestion.service import IndexingService, IndexOutcome
from src.kit.db import transaction
from src.kit.logging import get_logger

log = get_logger(__name__)
INTERRUPTED = "interrupted by a shutdown: submit the job again (indexing is idempotent, finished documents are skipped)"


class JobRunner:
    def __init__(self, indexing: IndexingService, db: async_sessionmaker[AsyncSession], max_content_chars: int) -> None:
        self.indexing = indexing
        self.db = db
        self.max_content_chars = max_content_chars
        self.running: dict[str, asyncio.Task[None]] = {}

    async def submit(self, documents: list[IndexRequest]) -> str:
        job_id = str(uuid.uuid4())
        async with transaction(self.db) as session:
            await JobRepository(session).create(job_id, len(documents))
        task = asyncio.get_running_loop().create_task(self._run(job_id, documents), name=f"index-job-{job_id}")
        self.running[job_id] = task
        task.add_done_callback(lambda _: self.running.pop(job_id, None))
        log.info("INDEX_JOB_QUEUED", job_id=job_id, documents=len(documents))
        return job_id

    async def _record(self, job_id: str, **values: Any) -> None:
        async with transaction(self.db) as session:
            await JobRepository(session).update(job_id, **values)

    async def _run(self, job_id: str, documents: list[IndexRequest]) -> None:
        results: list[dict[str, Any]] = []
        done = failed = 0

        def loader(doc: IndexRequest) -> Load:
            def load() -> tuple[str | bytes, IndexMetadata]:
                if len(doc.content) > self.max_content_chars:
                    raise ValueError(f"content is longer than {self.max_content_chars} characters")
                return doc.content, doc.metadata

            return load

        async def report(position: int, result: IndexOutcome | Exception) -> None:
            nonlocal done, failed
            entry: dict[str, Any] = {"source_file": documents[position].metadata.source_file}
            if isinstance(result, Exception):
                entry |= {"status": "failed", "error": str(result)[:500]}
                failed += 1
            else:
                entry |= {
                    "status": result.status,
                    "indexed_chunks": result.indexed_chunks,
                    "chunks_new": result.chunks_new,
                }
                done += 1
            results.append(entry)
            await self._record(job_id, done=done, failed=failed, results=results)

        try:
            await self._record(job_id, status="running")
            allowed = {position for position, doc in enumerate(documents) if doc.allow_empty}
            await index_many(
                self.indexing,
                [loader(doc) for doc in documents],
                report,
                self.indexing.settings.index_pool_chunks,
                allowed,
            )
            await self._record(job_id, status="completed")
            log.info("INDEX_JOB_COMPLETED", job_id=job_id, done=done, failed=failed)
        except asyncio.CancelledError:
            await asyncio.shield(
                self._record(job_id, status="failed", error=INTERRUPTED, done=done, failed=failed, results=results)
            )
            raise
        except Exception as exc:  # noqa: BLE001 - a background job has no caller: record why it stopped
            log.error("INDEX_JOB_FAILED", job_id=job_id, error=type(exc).__name__, message=str(exc)[:200])
            await self._record(
                job_id,
                status="failed",
                error=f"{type(exc).__name__}: {str(exc)[:300]}",
                done=done,
                failed=failed,
                results=results,
            )

    async def close(self) -> None:
        for task in list(self.running.values()):
            task.cancel()
        for task in list(self.running.values()):
            try:
                await task
            except (asyncio.CancelledError, Exception):  # noqa: BLE001 - recorded by the job itself
                pass
