"""The app factory: settings, logging, middleware, error handlers, routers and the lifespan."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from src.answering.router import router as answer_router
from src.health.router import router as health_router
from src.ingestion.router import router as index_router
from src.kit.errors import error_response, install_error_handlers
from src.kit.logging import configure_logging, get_logger
from src.kit.middleware import InFlight, RequestMiddleware
from src.kit.resources import close_resources, open_resources
from src.kit.settings import VERSION, Settings, get_settings
from src.kit.shutdown import watch_sigterm
from src.retrieval.router import router as query_router
from src.retrieval.store.base import VectorStoreUnavailable
from src.security.ratelimit import RateLimitMiddleware
from src.sessions.router import router as sessions_router

log = get_logger(__name__)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    configure_logging(settings.log_level, settings.log_dir, settings.log_json)
    in_flight = InFlight()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.resources = await open_resources(settings, in_flight)
        sigterm = watch_sigterm(in_flight, settings.shutdown_grace_seconds)
        try:
            yield
        finally:
            in_flight.draining = True
            sigterm.uninstall()
            await close_resources(app.state.resources)

    app = FastAPI(
        title="AI-textbook chatbot backend",
        version=VERSION,
        description="Answers students' questions from an indexed textbook, with citations.",
        lifespan=lifespan,
    )
    app.state.in_flight = in_flight
    install_error_handlers(app)

    @app.exception_handler(VectorStoreUnavailable)
    async def _store_down(request: Request, exc: VectorStoreUnavailable) -> JSONResponse:
        log.warning("VECTOR_STORE_UNAVAILABLE", path=request.url.path)
        return error_response(request, 503, "service_unavailable", "The search index is unavailable; retry shortly.", {"Retry-After": "5"})

    async def _db_down(request: Request, exc: Exception) -> JSONResponse:
        log.warning("DATABASE_UNAVAILABLE", path=request.url.path, error=type(exc).__name__)
        return error_response(request, 503, "service_unavailable", "The database is unavailable; retry shortly.", {"Retry-After": "5"})

    for exc_type in (OperationalError, DBAPIError, PoolTimeout, ConnectionRefusedError):
        app.add_exception_handler(exc_type, _db_down)

    for router in (health_router, index_router, query_router, answer_router, sessions_router):
        app.include_router(router)

    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST", "PUT", "DELETE"],
            allow_headers=["Authorization", "Content-Type", "X-Request-ID"],
        )
    app.add_middleware(RateLimitMiddleware, limiter_getter=lambda: getattr(getattr(app.state, "resources", None), "limiter", None))
    app.add_middleware(RequestMiddleware, max_body_bytes=settings.max_body_bytes, trust_forwarded_for=settings.trust_forwarded_for, in_flight=in_flight)
    return app
