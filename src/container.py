"""Everything the app holds open: built in the lifespan, handed to the routes through `app.state`
(each domain reads its own part with its own typed dependency), closed on shutdown. Nothing
connects at import. The command line opens the same container to index in process."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field

from anyio import to_thread
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from starlette.datastructures import State

from src.analytics.service import AnalyticsService
from src.answering.providers import build_provider
from src.answering.service import AnswerService
from src.db.migrations import alembic_head, is_migrated, migrate_once
from src.ingestion.jobs import JobRunner
from src.ingestion.sandbox import close_parsers
from src.ingestion.service import IndexingService
from src.kit.cache import Cache
from src.kit.db import create_engine, session_factory
from src.kit.logging import get_logger
from src.kit.middleware import InFlight
from src.kit.redis_link import RedisLink
from src.kit.settings import Settings
from src.retrieval.embedder import Embedder
from src.retrieval.outline import Outline
from src.retrieval.service import RetrievalService
from src.retrieval.sparse import SparseEncoder
from src.retrieval.store.base import VectorStore
from src.retrieval.store.factory import open_store
from src.retrieval.store.readiness import StoreReadiness
from src.security.ratelimit import RateLimiter
from src.sessions.recorder import TurnRecorder

log = get_logger(__name__)


@dataclass
class Container:
    settings: Settings
    engine: AsyncEngine
    db: async_sessionmaker[AsyncSession]
    redis: RedisLink
    cache: Cache
    limiter: RateLimiter
    embedder: Embedder
    sparse: SparseEncoder
    store: VectorStore
    store_state: StoreReadiness
    recorder: TurnRecorder
    indexing: IndexingService
    jobs: JobRunner
    retrieval: RetrievalService
    answers: AnswerService
    analytics: AnalyticsService
    in_flight: InFlight
    migrations_head: str
    tasks: list[asyncio.Task[None]] = field(default_factory=list)

    @property
    def store_ready(self) -> bool:
        return self.store_state.ready

    async def ensure_store(self) -> bool:
        return await self.store_state.ensure()

    @property
    def outline(self) -> Outline:
        return self.retrieval.outline

    async def migrated(self) -> bool:
        return await is_migrated(self.engine, self.migrations_head)

    def publish(self, state: State) -> None:
        """Put each part where its domain's dependencies read it (`request.app.state.<name>`)."""
        for name in ("settings", "engine", "db", "redis", "cache", "limiter", "embedder", "store", "store_state"):
            setattr(state, name, getattr(self, name))
        for name in ("recorder", "indexing", "jobs", "retrieval", "answers", "analytics", "migrations_head", "outline"):
            setattr(state, name, getattr(self, name))
        state.container = self


async def open_container(settings: Settings, in_flight: InFlight) -> Container:
    if settings.is_sqlite and settings.auto_migrate:
        await to_thread.run_sync(migrate_once, settings)
    engine = create_engine(settings)
    db = session_factory(engine)
    redis = RedisLink(settings.redis_url, settings.redis_timeout_seconds, settings.redis_retry_seconds)
    cache = Cache(redis, settings.cache_max_entries, settings.cache_max_bytes)
    limiter = RateLimiter(
        redis,
        settings.rate_limit_requests_per_minute,
        settings.rate_limit_tokens_per_minute,
        settings.rate_limit_concurrent_requests,
        ipv6_prefix=settings.rate_limit_ipv6_prefix,
        answers_max_in_flight=settings.answers_max_in_flight,
    )
    embedder = await to_thread.run_sync(
        Embedder, settings.embedding_threads, settings.embedding_quantization, settings.models_dir
    )
    sparse = SparseEncoder()
    store = await to_thread.run_sync(open_store, settings, embedder.dimensions)
    recorder = TurnRecorder(db, settings)
    retrieval = RetrievalService(settings, embedder, sparse, store, cache)
    indexing = IndexingService(settings, embedder, sparse, store, db, cache)
    provider = await to_thread.run_sync(build_provider, settings)
    container = Container(
        settings=settings,
        engine=engine,
        db=db,
        redis=redis,
        cache=cache,
        limiter=limiter,
        embedder=embedder,
        sparse=sparse,
        store=store,
        store_state=StoreReadiness(store),
        recorder=recorder,
        indexing=indexing,
        jobs=JobRunner(indexing, db, settings.max_index_content_chars),
        retrieval=retrieval,
        answers=AnswerService(settings, retrieval, cache, recorder, db, provider),
        analytics=AnalyticsService(store, settings.evidence_threshold),
        in_flight=in_flight,
        migrations_head=await to_thread.run_sync(alembic_head),
    )
    await container.ensure_store()
    if redis.configured and not await redis.ping():
        log.warning("REDIS_UNAVAILABLE_AT_START", fallback="in-process cache and rate limits until it answers")
    log.info(
        "SERVICE_STARTED",
        database="sqlite" if settings.is_sqlite else "postgresql",
        vector_store=store.kind,
        cache="redis" if redis.configured else "in-process",
        environment=settings.environment,
        answers=settings.llm_provider,
    )
    return container


async def close_container(container: Container) -> None:
    await container.jobs.close()  # an unfinished bulk job is recorded as interrupted
    await to_thread.run_sync(close_parsers)  # the PDF/HTML parsing children (ingestion/sandbox.py)
    if container.answers.provider is not None:
        with contextlib.suppress(Exception):
            await container.answers.provider.close()
    for task in container.tasks:
        task.cancel()
    for task in container.tasks:
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task
    recorder = container.recorder
    # Bounded: a database that is down fails the first write within DB_TIMEOUT_SECONDS; a long backlog on a
    # healthy one gets the shutdown grace period, no more.
    with contextlib.suppress(Exception):
        async with asyncio.timeout(container.settings.shutdown_grace_seconds):
            await recorder.flush_pending()
    if recorder.pending:
        log.error("MESSAGES_NOT_RECORDED_AT_SHUTDOWN", pending=len(recorder.pending))
    await to_thread.run_sync(container.store.close)
    await container.redis.close()
    # Closing pooled connections to a server that stopped answering waits on each; do not let that hold shutdown.
    with contextlib.suppress(Exception):
        async with asyncio.timeout(container.settings.db_timeout_seconds * 4):
            await container.engine.dispose()
    log.info("SERVICE_STOPPED")
