"""A student's conversation: read it, erase it, rate an answer.

Session ids are made by the service (128 random bits, recorder.new_session_id) and act as the capability
to a conversation: whoever holds one can read, extend or erase it, and nobody can list them. A client
cannot choose one: an id that names no session gets a new one with the answer (recorder.session_for).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path

from src.kit.deps import DbSession
from src.kit.errors import NotFound, error_responses
from src.retrieval.passage import Citation
from src.sessions.deps import RecorderDep
from src.sessions.repository import SessionRepository
from src.sessions.schemas import (
    SESSION_ID_PATTERN,
    FeedbackRecorded,
    FeedbackRequest,
    SessionDeleted,
    SessionHistory,
    Turn,
)

router = APIRouter(tags=["sessions"])
SessionId = Annotated[str, Path(pattern=SESSION_ID_PATTERN)]
HISTORY_LIMIT = 200
_ERRORS = error_responses(404, 422, 429, 503, s404="No such session or answer")
_BODY_ERRORS = error_responses(400, 404, 413, 422, 429, 503, s404="No such session or answer")


@router.get(
    "/api/v1/sessions/{session_id}",
    response_model=SessionHistory,
    responses=_ERRORS,
    summary="A session's questions and answers, oldest first",
)
async def get_session(session_id: SessionId, db: DbSession) -> SessionHistory:
    repo = SessionRepository(db)
    row = await repo.get(session_id)
    if row is None:
        raise NotFound("No such session.")
    messages = await repo.history(session_id, HISTORY_LIMIT)
    return SessionHistory(
        session_id=row.id,
        created_at=row.created_at.isoformat(),
        last_active_at=row.last_active_at.isoformat(),
        messages=[
            Turn(
                answer_id=m.id,
                question=m.question,
                standalone_question=m.standalone_question,
                answer=m.answer,
                citations=[Citation.model_validate(c) for c in m.citations],
                refused=m.refused,
                created_at=m.created_at.isoformat(),
            )
            for m in messages
        ],
    )


@router.delete(
    "/api/v1/sessions/{session_id}",
    response_model=SessionDeleted,
    responses=_ERRORS,
    summary="Erase a session, its messages and their feedback",
)
async def delete_session(session_id: SessionId, db: DbSession, recorder: RecorderDep) -> SessionDeleted:
    repo = SessionRepository(db)
    async with recorder.erasing(session_id) as waiting:
        count = await repo.count_messages(session_id)
        if not await repo.delete_session(session_id) and not waiting:
            raise NotFound("No such session.")
    return SessionDeleted(status="deleted", session_id=session_id, deleted_messages=count + waiting)


@router.post(
    "/api/v1/feedback",
    status_code=201,
    response_model=FeedbackRecorded,
    responses=_BODY_ERRORS,
    summary="Rate an answer up or down",
)
async def feedback(body: FeedbackRequest, db: DbSession) -> FeedbackRecorded:
    row = await SessionRepository(db).rate(body.answer_id, body.rating, body.comment)
    if row is None:
        raise NotFound("No such answer (it may not be recorded yet; retry in a few seconds).")
    return FeedbackRecorded(status="recorded", feedback_id=row.id, answer_id=body.answer_id)
