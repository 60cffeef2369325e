"""Answer a student's question from the book: POST /api/v1/answer, and the same answer streamed
as server-sent events by POST /api/v1/answer/stream."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse
from sqlalchemy.exc import DBAPIError

from src.answering.schemas import AnswerRequest, AnswerResponse
from src.answering.service import approx_tokens
from src.kit.deps import ResourcesDep
from src.kit.errors import AppError
from src.kit.logging import get_logger
from src.kit.request_context import request_id_of
from src.retrieval.store.base import VectorStoreUnavailable

router = APIRouter(prefix="/api/v1/answer", tags=["answering"])
log = get_logger(__name__)


def sse(event: str, data: Any) -> bytes:
    return f"event: {event}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n".encode()


@router.post(
    "",
    response_model=AnswerResponse,
    responses={
        400: {"description": "Malformed request body"},
        413: {"description": "Request body too large"},
        422: {"description": "Invalid input"},
        429: {"description": "Rate limited"},
        503: {"description": "A store is unavailable"},
    },
)
async def answer(body: AnswerRequest, resources: ResourcesDep, request: Request) -> AnswerResponse:
    flt = body.filters.to_search_filter() if body.filters else None
    result = await resources.answers.answer(body.question, body.k, body.session_id, flt, body.selected_text, body.mode)
    client = request.scope.get("state", {}).get("rate_limit_client")
    if client:
        await resources.limiter.charge_tokens(client, approx_tokens(body.question, result.answer))
    return result


@router.post(
    "/stream",
    responses={
        200: {"content": {"text/event-stream": {}}, "description": "Events: retrieval, delta, citation, done, error"},
        400: {"description": "Malformed request body"},
        413: {"description": "Request body too large"},
        422: {"description": "Invalid input"},
        429: {"description": "Rate limited"},
    },
    summary="The answer as server-sent events",
)
async def answer_stream(body: AnswerRequest, resources: ResourcesDep, request: Request) -> StreamingResponse:
    """`retrieval` (the contexts) comes first, before any answering; then `delta` events with the
    answer text sentence by sentence (a model's sentences as soon as the grounding checker passes
    them), a `citation` event when a sentence first cites a source,
    and `done` with the full response, exactly as /api/v1/answer returns it. A failure mid-way
    ends the stream with `error` ({error, details, request_id})."""
    flt = body.filters.to_search_filter() if body.filters else None
    client = request.scope.get("state", {}).get("rate_limit_client")
    request_id = request_id_of(request)

    async def events() -> AsyncIterator[bytes]:
        try:
            async for kind, data in resources.answers.stream(body.question, body.k, body.session_id, flt, body.selected_text, body.mode):
                if kind == "retrieval":
                    yield sse("retrieval", {"retrieved_contexts": [c.model_dump() for c in data]})
                elif kind == "delta":
                    yield sse("delta", {"text": data})
                elif kind == "citation":
                    yield sse("citation", data.model_dump())
                else:
                    yield sse("done", data.model_dump())
                    if client:
                        await resources.limiter.charge_tokens(client, approx_tokens(body.question, data.answer))
        except (AppError, VectorStoreUnavailable, DBAPIError) as exc:
            status = getattr(exc, "error", "service_unavailable")
            log.warning("ANSWER_STREAM_FAILED", error=type(exc).__name__, request_id=request_id)
            yield sse("error", {"error": status, "details": "The answer could not be completed; retry shortly.", "request_id": request_id})

    return StreamingResponse(events(), media_type="text/event-stream", headers={"X-Accel-Buffering": "no"})


@router.get("/health")
async def answer_health(resources: ResourcesDep) -> dict[str, object]:
    return {"status": "healthy" if resources.store_ready else "unhealthy", "provider": resources.settings.llm_provider}
