"""Answer a student's question from the book: POST /api/v1/answer."""

from __future__ import annotations

from fastapi import APIRouter, Request

from src.answering.schemas import AnswerRequest, AnswerResponse
from src.answering.service import approx_tokens
from src.kit.deps import ResourcesDep

router = APIRouter(prefix="/api/v1/answer", tags=["answering"])


@router.post(
    "",
    response_model=AnswerResponse,
    responses={422: {"description": "Invalid input"}, 429: {"description": "Rate limited"}, 503: {"description": "A store is unavailable"}},
)
async def answer(body: AnswerRequest, resources: ResourcesDep, request: Request) -> AnswerResponse:
    flt = body.filters.to_search_filter() if body.filters else None
    result = await resources.answers.answer(body.question, body.k, body.session_id, flt)
    client = request.scope.get("state", {}).get("rate_limit_client")
    if client:
        await resources.limiter.charge_tokens(client, approx_tokens(body.question, result.answer))
    return result


@router.get("/health")
async def answer_health(resources: ResourcesDep) -> dict[str, object]:
    return {"status": "healthy" if resources.store_ready else "unhealthy", "provider": resources.settings.llm_provider}
