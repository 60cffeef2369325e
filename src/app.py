"""The app factory: settings, logging, middleware, error handlers, routers and the lifespan, which
opens the container (src/container.py), publishes it on `app.state` and starts the scheduled jobs."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware

from src.analytics.router import router as analytics_router
from src.answering.router import router as answer_router
from src.container import close_container, open_container
from src.health.router import metrics_router
from src.health.router import router as health_router
from src.ingestion.router import router as index_router
from src.kit.error_handlers import install_error_handlers
from src.kit.logging import configure_logging
from src.kit.metrics_server import serve_in_process
from src.kit.middleware import InFlight, RequestMiddleware
from src.kit.request_context import ClientAddressMiddleware, TrustedProxies
from src.kit.settings import VERSION, Settings, get_settings
from src.kit.shutdown import drain_begins, watch_sigterm
from src.retrieval.router import router as query_router
from src.scheduler import start_jobs
from src.security.access import AccessControl
from src.security.blocklist import BlockMiddleware
from src.security.ratelimit import RateLimiter, RateLimitMiddleware
from src.security.throttle import AuthThrottle
from src.sessions.router import router as sessions_router
from src.web.docs import router as docs_router
from src.web.router import router as web_router


def create_app(settings: Settings | None = None) -> FastAPI:
    # Settings read from the environment are read again on SIGHUP, for the keys and blocks (security/access.py).
    settings_source = Settings if settings is None else None
    settings = settings or get_settings()
    configure_logging(
        settings.log_level, settings.log_dir, settings.log_json, settings.log_file_max_bytes, settings.log_file_backups
    )
    in_flight = InFlight()
    app = FastAPI(
        title="AI-textbook chatbot backend",
        version=VERSION,
        description="Answers students' questions from an indexed textbook, with citations.",
        lifespan=_lifespan(settings, settings_source, in_flight),
        # FastAPI's own pages load Swagger UI from a CDN: web/docs.py serves them from this app, with a policy.
        docs_url=None,
        redoc_url=None,
        openapi_url="/openapi.json" if settings.api_docs_enabled else None,
    )
    app.state.in_flight = in_flight
    install_error_handlers(app)
    _include_routers(app, settings)
    _add_middleware(app, settings, in_flight)
    return app


def _lifespan(
    settings: Settings, settings_source: type[Settings] | None, in_flight: InFlight
) -> Callable[[FastAPI], AbstractAsyncContextManager[None]]:
    """Opens the container and publishes it on `app.state`, starts the jobs and the signal handlers; undoes it all
    on the way out."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # First; a bad keys or blocklist file is reported, never stops the start.
        access = AccessControl(settings, settings_source)
        # METRICS_PORT: one in use stops the start too.
        metrics = serve_in_process(settings.metrics_host, settings.metrics_port)
        container = await open_container(settings, in_flight)
        container.publish(app.state)
        app.state.access = access
        app.state.auth_throttle = AuthThrottle(
            container.redis,
            settings.auth_failure_limit,
            settings.auth_failure_window_seconds,
            settings.rate_limit_ipv6_prefix,
        )
        start_jobs(container)
        sigterm = watch_sigterm(in_flight, settings.shutdown_grace_seconds)
        access.install_sighup()
        try:
            yield
        finally:
            drain_begins(in_flight)
            access.uninstall_sighup()
            sigterm.uninstall()
            await close_container(container)
            if metrics is not None:
                await metrics.aclose()

    return lifespan


def _include_routers(app: FastAPI, settings: Settings) -> None:
    routers = [health_router, index_router, query_router, answer_router, sessions_router, analytics_router, web_router]
    if settings.metrics_port is None:
        routers.append(metrics_router)  # else served on METRICS_PORT alone (kit/metrics_server.py)
    if settings.api_docs_enabled:
        routers.append(docs_router)
    for router in routers:
        app.include_router(router)


def _add_middleware(app: FastAPI, settings: Settings, in_flight: InFlight) -> None:
    """The middleware, innermost first: each one added wraps the ones before it."""

    def limiter() -> RateLimiter | None:
        found: RateLimiter | None = getattr(app.state, "limiter", None)
        return found

    def access() -> AccessControl | None:
        found: AccessControl | None = getattr(app.state, "access", None)
        return found

    app.add_middleware(RateLimitMiddleware, limiter_getter=limiter)
    app.add_middleware(BlockMiddleware, access_getter=access)
    app.add_middleware(
        RequestMiddleware,
        max_body_bytes=settings.max_body_bytes,
        trust_forwarded_for=settings.trust_forwarded_for,
        in_flight=in_flight,
    )
    # Outside the request middleware, so its log lines (a 413 included) name the same client as every other.
    app.add_middleware(
        ClientAddressMiddleware, proxies=TrustedProxies.parse(settings.trusted_proxies, settings.trust_forwarded_for)
    )
    if settings.cors_origins:
        # Outermost, so every response a browser on an allowed site gets carries the CORS headers: a 429
        # or a 413 too, which it could not read otherwise (and Retry-After is exposed to its script).
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST", "PUT", "DELETE"],
            allow_headers=["Authorization", "Content-Type", "X-Request-ID"],
            expose_headers=["Retry-After", "X-Request-ID", "RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset"],
        )
