"""Search the book: POST /api/v1/query."""

from __future__ import annotations

import uuid

from fastapi import APIRouter

from src.answering.service import to_context
from src.kit.deps import ResourcesDep
from src.retrieval.schemas import QueryRequest, QueryResponse
from src.retrieval.service import assemble_context

router = APIRouter(prefix="/api/v1/query", tags=["retrieval"])


@router.post(
    "",
    response_model=QueryResponse,
    responses={
        400: {"description": "Malformed request body"},
        413: {"description": "Request body too large"},
        422: {"description": "Invalid input"},
        429: {"description": "Rate limited"},
        503: {"description": "Vector store unavailable"},
    },
)
async def query(body: QueryRequest, resources: ResourcesDep) -> QueryResponse:
    flt = body.filters.to_search_filter() if body.filters else None
    result = await resources.retrieval.search(body.question, body.k, flt)
    return QueryResponse(
        query_id=uuid.uuid4().hex,
        retrieved_contexts=[to_context(h) for h in result.hits],
        assembled_context=assemble_context(result.hits),
        latency_ms=result.latency_ms,
    )


@router.get("/health")
async def query_health(resources: ResourcesDep) -> dict[str, object]:
    return {"status": "healthy" if resources.store_ready else "unhealthy", "vector_store": resources.store.kind, "embedder": resources.embedder.model_id}
