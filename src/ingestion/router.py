"""Authoring endpoints: index, re-index, delete and list the book's documents (Bearer INDEXING_API_KEY)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request

from src.ingestion.deps import IndexingServiceDep, JobRunnerDep
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
from src.kit.deps import DbSession, SettingsDep
from src.kit.errors import InvalidInput, NotFound, error_responses
from src.retrieval.deps import StoreStateDep
from src.security.auth import IndexingKey, IndexingKeyRoute
from src.security.inputs import validate_source_file

# The key is checked before the body is parsed (IndexingKeyRoute); rejected inputs are logged by the error handler.
router = APIRouter(
    prefix="/api/v1/index",
    tags=["indexing"],
    dependencies=[IndexingKey],
    route_class=IndexingKeyRoute.requiring("index"),
)
_ERRORS = error_responses(401, 422, 503)
_BODY_ERRORS = error_responses(400, 401, 413, 422, 503)
# A re-index whose content has no text to index would remove every chunk of the page: refused unless asked for.
_EMPTY_REFUSED = "Invalid input, or a re-index that would remove every chunk of an indexed document (error validation_error, type empty_reindex)"
_INDEX_ERRORS = error_responses(400, 401, 413, 422, 503, s422=_EMPTY_REFUSED)
_REPLACES = (
    "Re-posting a source_file replaces its chunks; only changed chunks are embedded. Content that parses to no text"
    " (a comment, whitespace, a page whose text is all navigation or scripts, a scanned PDF) over a document that has"
    " chunks is refused with 422 and changes nothing, unless the body says `allow_empty: true`."
    " DELETE /api/v1/index/{source_file} removes a page."
)


async def _index(body: IndexRequest, indexing: IndexingServiceDep, settings: SettingsDep) -> IndexResponse:
    limit = settings.max_index_content_chars
    if len(body.content) > limit:
        raise InvalidInput(
            "content is too long",
            [{"loc": ["body", "content"], "msg": f"at most {limit} characters", "type": "string_too_long"}],
        )
    outcome = await indexing.index(body.content, body.metadata, body.allow_empty)
    return IndexResponse(**outcome.__dict__)


@router.post(
    "",
    response_model=IndexResponse,
    responses=_INDEX_ERRORS,
    summary="Index a document (re-posting a source_file replaces its chunks)",
    description=_REPLACES,
)
async def index_document(body: IndexRequest, indexing: IndexingServiceDep, settings: SettingsDep) -> IndexResponse:
    return await _index(body, indexing, settings)


@router.put(
    "",
    response_model=IndexResponse,
    responses=_INDEX_ERRORS,
    summary="Re-index a document: only changed chunks are embedded",
    description=_REPLACES,
)
async def reindex_document(body: IndexRequest, indexing: IndexingServiceDep, settings: SettingsDep) -> IndexResponse:
    return await _index(body, indexing, settings)


@router.post(
    "/bulk",
    status_code=202,
    response_model=JobAccepted,
    responses=_BODY_ERRORS,
    summary="Index many documents in the background",
    description=(
        "Each document is indexed as by POST /api/v1/index. A document whose content has no text to index, over one that has"
        " chunks, is reported failed in the job's results (the others are indexed) unless it says `allow_empty: true`."
    ),
)
async def bulk_index(body: BulkIndexRequest, jobs: JobRunnerDep, request: Request) -> JobAccepted:
    job_id = await jobs.submit(body.documents)
    return JobAccepted(
        job_id=job_id,
        status="queued",
        total=len(body.documents),
        status_url=str(request.url_for("index_job_status", job_id=job_id).path),
    )


@router.get(
    "/jobs/{job_id}",
    response_model=JobStatus,
    responses=error_responses(401, 404, 422, 503, s404="No such job"),
    name="index_job_status",
)
async def index_job_status(job_id: Annotated[str, Path(max_length=36)], db: DbSession) -> JobStatus:
    row = await JobRepository(db).get(job_id)
    if row is None:
        raise NotFound(f"No indexing job {job_id!r}.")
    return JobStatus.model_validate(row)


@router.get("/health", responses=error_responses(401), summary="Indexing health (authenticated)")
async def index_health(store_state: StoreStateDep, settings: SettingsDep) -> dict[str, object]:
    return {
        "status": "healthy" if store_state.ready else "unhealthy",
        "vector_store": store_state.store.kind,
        "collection": settings.collection_name,
    }


@router.get("/documents", response_model=DocumentList, responses=_ERRORS, summary="What is indexed")
async def list_documents(
    db: DbSession, limit: Annotated[int, Query(ge=1, le=1000)] = 100, offset: Annotated[int, Query(ge=0)] = 0
) -> DocumentList:
    repo = DocumentRepository(db)
    rows = await repo.list(limit, offset)
    return DocumentList(documents=[DocumentInfo.model_validate(r) for r in rows], total=await repo.count())


@router.delete(
    "/{source_file:path}",
    response_model=DeleteResponse,
    responses=error_responses(401, 404, 422, 503, s404="Nothing indexed under that name"),
    summary="Remove a document: its chunks and its registry row",
)
async def delete_document(
    source_file: Annotated[str, Path(max_length=1024)], indexing: IndexingServiceDep
) -> DeleteResponse:
    try:
        validate_source_file(source_file)
    except ValueError as exc:
        raise InvalidInput(
            str(exc), [{"loc": ["path", "source_file"], "msg": str(exc), "type": "value_error"}]
        ) from exc
    removed = await indexing.delete(source_file)  # DocumentNotFound (404) when nothing is indexed under it
    return DeleteResponse(status="deleted", source_file=source_file, deleted_chunks=removed)
