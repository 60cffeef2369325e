"""SQL for the registry of indexed documents."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from src.db.models import IndexedDocument, IndexJob, utcnow
from src.kit.db import affected_rows


class DocumentRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, source_file: str) -> IndexedDocument | None:
        return await self.session.get(IndexedDocument, source_file)

    async def save(
        self,
        *,
        source_file: str,
        content_id: str,
        content_hash: str,
        title: str | None,
        document_type: str,
        chunk_count: int,
    ) -> IndexedDocument:
        row = await self.get(source_file)
        if row is None:
            row = IndexedDocument(source_file=source_file)
            self.session.add(row)
        row.content_id = content_id
        row.content_hash = content_hash
        row.title = title
        row.document_type = document_type
        row.chunk_count = chunk_count
        row.status = "indexed"
        row.indexed_at = utcnow()
        await self.session.flush()
        return row

    async def delete(self, source_file: str) -> bool:
        result = await self.session.execute(delete(IndexedDocument).where(IndexedDocument.source_file == source_file))
        return affected_rows(result) > 0

    async def list(self, limit: int, offset: int) -> Sequence[IndexedDocument]:
        stmt = select(IndexedDocument).order_by(IndexedDocument.source_file).limit(limit).offset(offset)
        return (await self.session.execute(stmt)).scalars().all()

    async def count(self) -> int:
        return int((await self.session.execute(select(func.count()).select_from(IndexedDocument))).scalar_one())


class JobRepository:
    """SQL for bulk indexing jobs."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def create(self, job_id: str, total: int) -> IndexJob:
        row = IndexJob(id=job_id, status="queued", total=total, done=0, failed=0, results=[])
        self.session.add(row)
        await self.session.flush()
        return row

    async def get(self, job_id: str) -> IndexJob | None:
        return await self.session.get(IndexJob, job_id)

    async def update(self, job_id: str, **values: Any) -> None:
        await self.session.execute(update(IndexJob).where(IndexJob.id == job_id).values(**values, updated_at=utcnow()))
