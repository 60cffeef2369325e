"""Authoring endpoints: index, re-index, delete and list the book's documents (Bearer INDEXING_API_KEY)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request

from src.ingestion.repository import DocumentRepository, JobRepository
from src.ingestion.schemas import (
    BulkIndexRequest,
    DeleteResponse,
    DocumentInfo,
    DocumentList,
    IndexRequest,
    IndexResponse,
    JobAccepted,
    JobStatus,
)
from src.ingestion.source_path import validate_source_file
from src.kit.deps import DbSession, ResourcesDep
from src.kit.errors import InvalidInput, NotFound
from src.security.auth import IndexingKey, IndexingKeyRoute

# The key is checked before the body is parsed (IndexingKeyRoute); rejected inputs are logged by the error handler.
router = APIRouter(prefix="/api/v1/index", tags=["indexing"], dependencies=[IndexingKey], route_class=IndexingKeyRoute)
_ERRORS = {401: {"description": "Missing or invalid API key"}, 422: {"description": "Invalid input"}, 503: {"description": "A store is unavailable"}}
_BODY_ERRORS = {**_ERRORS, 400: {"description": "Malformed request body"}, 413: {"description": "Request body too large"}}


async def _index(body: IndexRequest, resources: ResourcesDep) -> IndexResponse:
    limit = resources.settings.max_index_content_chars
    if len(body.content) > limit:
        raise InvalidInput("content is too long", [{"loc": ["body", "content"], "msg": f"at most {limit} characters", "type": "string_too_long"}])
    outcome = await resources.indexing.index(body.content, body.metadata)
    return IndexResponse(**outcome.__dict__)


@router.post("", response_model=IndexResponse, responses=_BODY_ERRORS, summary="Index a document (re-posting a source_file replaces its chunks)")
async def index_document(body: IndexRequest, resources: ResourcesDep) -> IndexResponse:
    return await _index(body, resources)


@router.put("", response_model=IndexResponse, responses=_BODY_ERRORS, summary="Re-index a document: only changed chunks are embedded")
async def reindex_document(body: IndexRequest, resources: ResourcesDep) -> IndexResponse:
    return await _index(body, resources)


@router.post("/bulk", status_code=202, response_model=JobAccepted, responses=_BODY_ERRORS, summary="Index many documents in the background")
async def bulk_index(body: BulkIndexRequest, resources: ResourcesDep, request: Request) -> JobAccepted:
    job_id = await resources.jobs.submit(body.documents)
    return JobAccepted(job_id=job_id, status="queued", total=len(body.documents), status_url=str(request.url_for("index_job_status", job_id=job_id).path))


@router.get("/jobs/{job_id}", response_model=JobStatus, responses={**_ERRORS, 404: {"description": "No such job"}}, name="index_job_status")
async def index_job_status(job_id: Annotated[str, Path(max_length=36)], db: DbSession) -> JobStatus:
    row = await JobRepository(db).get(job_id)
    if row is None:
        raise NotFound(f"No indexing job {job_id!r}.")
    return JobStatus(
        job_id=row.id,
        status=row.status,  # type: ignore[arg-type]
        total=row.total,
        done=row.done,
        failed=row.failed,
        results=row.results,
        error=row.error,
        created_at=row.created_at.isoformat(),
        updated_at=row.updated_at.isoformat(),
    )


@router.get("/health", responses={401: _ERRORS[401]}, summary="Indexing health (authenticated)")
async def index_health(resources: ResourcesDep) -> dict[str, object]:
    return {
        "status": "healthy" if resources.store_ready else "unhealthy",
        "vector_store": resources.store.kind,
        "collection": resources.settings.collection_name,
    }


@router.get("/documents", response_model=DocumentList, responses=_ERRORS, summary="What is indexed")
async def list_documents(db: DbSession, limit: Annotated[int, Query(ge=1, le=1000)] = 100, offset: Annotated[int, Query(ge=0)] = 0) -> DocumentList:
    repo = DocumentRepository(db)
    rows = await repo.list(limit, offset)
    return DocumentList(
        documents=[
            DocumentInfo(
                source_file=r.source_file,
                content_id=r.content_id,
                title=r.title,
                document_type=r.document_type,
                chunk_count=r.chunk_count,
                content_hash=r.content_hash,
                status=r.status,
                indexed_at=r.indexed_at.isoformat(),
            )
            for r in rows
        ],
        total=await repo.count(),
    )


@router.delete("/{source_file:path}", response_model=DeleteResponse, responses={**_ERRORS, 404: {"description": "Nothing indexed under that name"}})
async def delete_document(source_file: Annotated[str, Path(max_length=1024)], resources: ResourcesDep) -> DeleteResponse:
    try:
        validate_source_file(source_file)
    except ValueError as exc:
        raise InvalidInput(str(exc), [{"loc": ["path", "source_file"], "msg": str(exc), "type": "value_error"}]) from exc
    removed = await resources.indexing.delete(source_file)
    if removed < 0:
        raise NotFound(f"Nothing is indexed under source_file {source_file!r}.")
    return DeleteResponse(status="deleted", source_file=source_file, deleted_chunks=removed)
