"""Search the book: POST /api/v1/query."""

from __future__ import annotations

import uuid

from fastapi import APIRouter

from src.kit.errors import error_responses
from src.retrieval.deps import EmbedderDep, RetrievalServiceDep, StoreStateDep
from src.retrieval.schemas import QueryRequest, QueryResponse, to_context
from src.retrieval.service import assemble_context

router = APIRouter(prefix="/api/v1/query", tags=["retrieval"])


@router.post(
    "",
    response_model=QueryResponse,
    responses=error_responses(400, 413, 422, 429, 503, s503="Vector store unavailable"),
)
async def query(body: QueryRequest, retrieval: RetrievalServiceDep) -> QueryResponse:
    flt = body.filters.to_search_filter() if body.filters else None
    result = await retrieval.search(body.question, body.k, flt)
    return QueryResponse(
        query_id=uuid.uuid4().hex,
        retrieved_contexts=[to_context(h) for h in result.hits],
        assembled_context=assemble_context(result.hits),
        latency_ms=result.latency_ms,
    )


@router.get("/health")
async def query_health(store_state: StoreStateDep, embedder: EmbedderDep) -> dict[str, object]:
    return {
        "status": "healthy" if store_state.ready else "unhealthy",
        "vector_store": store_state.store.kind,
        "embedder": embedder.model_id,
    }
