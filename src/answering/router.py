"""Answer a student's question from the book: POST /api/v1/answer, and the same answer streamed
as server-sent events by POST /api/v1/answer/stream."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace

from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse
from sqlalchemy.exc import DBAPIError

from src.answering.deps import AnswerServiceDep
from src.answering.events import Done, Error, encode
from src.answering.recording import approx_tokens
from src.answering.schemas import AnswerRequest, AnswerResponse
from src.answering.service import Asked
from src.kit.deps import SettingsDep
from src.kit.error_handlers import describe
from src.kit.errors import AppError, ErrorBody, error_responses
from src.kit.logging import get_logger
from src.kit.request_context import request_id_of
from src.retrieval.deps import StoreStateDep
from src.security.deps import RateLimiterDep, charge_tokens

router = APIRouter(prefix="/api/v1/answer", tags=["answering"])
log = get_logger(__name__)
STREAM_FAILED = "The answer could not be completed; retry shortly."


def asked(body: AnswerRequest) -> Asked:
    flt = body.filters.to_search_filter() if body.filters else None
    return Asked(body.question, body.k, body.session_id, flt, body.selected_text, body.mode, body.page)


def tokens_of(body: AnswerRequest, answer: str) -> int:
    """What an answer costs its client's token budget: all the text it was given (the question, and the
    highlighted passage, which is read and quoted like the book) and the answer."""
    return approx_tokens(body.question, *([body.selected_text] if body.selected_text else []), answer)


@router.post("", response_model=AnswerResponse, responses=error_responses(400, 413, 422, 429, 503))
async def answer(
    body: AnswerRequest, answers: AnswerServiceDep, limiter: RateLimiterDep, request: Request
) -> AnswerResponse:
    result = await answers.answer(asked(body))
    await charge_tokens(request, limiter, tokens_of(body, result.answer))
    return result


@router.post(
    "/stream",
    responses={
        200: {
            "content": {"text/event-stream": {}},
            "description": (
                "Events: retrieval ({retrieved_contexts}), delta ({text}), citation (a Citation), "
                "done (the AnswerResponse, `refusal` included), error (an ErrorBody)"
            ),
        },
        **error_responses(400, 413, 422, 429, 503),
    },
    summary="The answer as server-sent events",
)
async def answer_stream(
    body: AnswerRequest, answers: AnswerServiceDep, limiter: RateLimiterDep, request: Request
) -> StreamingResponse:
    """`retrieval` (the contexts) comes first, before any answering; then `delta` events with the
    answer text sentence by sentence (a model's sentences as soon as the grounding checker passes
    them), a `citation` event when a sentence first cites a source,
    and `done` with the full response, exactly as /api/v1/answer returns it (a refusal's `refusal`
    says why, for a client to word it in its own language). A failure mid-way
    ends the stream with `error` ({error, details, request_id})."""
    request_id = request_id_of(request)

    async def events() -> AsyncIterator[bytes]:
        try:
            async for event in answers.stream(replace(asked(body), streamed=True)):
                yield encode(event)
                if isinstance(event, Done):
                    await charge_tokens(request, limiter, tokens_of(body, event.response.answer))
        except (AppError, DBAPIError) as exc:
            described = describe(exc)
            error = described.error if described else "service_unavailable"
            log.warning("ANSWER_STREAM_FAILED", error=type(exc).__name__, request_id=request_id)
            yield encode(Error(ErrorBody(error=error, details=STREAM_FAILED, request_id=request_id)))

    return StreamingResponse(events(), media_type="text/event-stream", headers={"X-Accel-Buffering": "no"})


@router.get("/health")
async def answer_health(store_state: StoreStateDep, settings: SettingsDep) -> dict[str, object]:
    return {"status": "healthy" if store_state.ready else "unhealthy", "provider": settings.llm_provider}
