"""Everything the app holds open, built in the lifespan and closed on shutdown. Nothing connects at import."""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import secrets
from dataclasses import dataclass, field
from pathlib import Path

from anyio import to_thread
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from src.answering.providers import build_provider
from src.answering.service import AnswerService
from src.ingestion.jobs import JobRunner
from src.ingestion.service import IndexingService
from src.kit.cache import Cache
from src.kit.db import create_engine, current_revision, session_factory
from src.kit.logging import get_logger
from src.kit.middleware import InFlight
from src.kit.redis_link import RedisLink
from src.kit.settings import Settings
from src.retrieval.embedder import Embedder
from src.retrieval.service import RetrievalService
from src.retrieval.sparse import SparseEncoder
from src.retrieval.store.base import VectorStore, VectorStoreUnavailable
from src.retrieval.store.embedded import EmbeddedStore
from src.retrieval.store.server import ServerStore
from src.security.ratelimit import RateLimiter
from src.sessions.logging_agent import LoggingAgent

log = get_logger(__name__)
KEY_FILE = "indexing_api_key"
PENDING_FLUSH_SECONDS = 2.0


def load_or_create_api_key(settings: Settings) -> tuple[str, Path | None]:
    """INDEXING_API_KEY from the environment, else a generated key kept in DATA_DIR (mode 600)."""
    if settings.indexing_api_key is not None and settings.indexing_api_key.get_secret_value():
        return settings.indexing_api_key.get_secret_value(), None
    path = settings.data_dir / KEY_FILE
    if path.exists():
        return path.read_text().strip(), path
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(32)
    path.touch(mode=0o600)
    path.write_text(key + "\n")
    log.warning("INDEXING_API_KEY_GENERATED", path=str(path), hint="set INDEXING_API_KEY to choose your own")
    return key, path


def alembic_head() -> str:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    cfg = Config(str(Path(__file__).resolve().parents[2] / "alembic.ini"))
    head = ScriptDirectory.from_config(cfg).get_current_head()
    if head is None:  # pragma: no cover - the repository always ships migrations
        raise RuntimeError("no Alembic migrations found")
    return head


def run_migrations(database_url: str | None = None) -> None:
    from alembic import command
    from alembic.config import Config

    cfg = Config(str(Path(__file__).resolve().parents[2] / "alembic.ini"))
    cfg.attributes["skip_logging_config"] = True
    if database_url:
        cfg.attributes["database_url"] = database_url
    command.upgrade(cfg, "head")


@dataclass
class Resources:
    settings: Settings
    api_key: str
    engine: AsyncEngine
    db: async_sessionmaker[AsyncSession]
    redis: RedisLink
    cache: Cache
    limiter: RateLimiter
    embedder: Embedder
    sparse: SparseEncoder
    store: VectorStore
    logging_agent: LoggingAgent
    indexing: IndexingService
    jobs: JobRunner
    retrieval: RetrievalService
    answers: AnswerService
    in_flight: InFlight
    migrations_head: str
    store_ready: bool = False
    tasks: list[asyncio.Task[None]] = field(default_factory=list)

    async def ensure_store(self) -> bool:
        """Create the collection and its payload indexes if needed; False while the store is unreachable."""
        try:
            await to_thread.run_sync(self.store.ensure_collection)
        except VectorStoreUnavailable as exc:
            log.warning("VECTOR_STORE_UNAVAILABLE", error=str(exc))
            self.store_ready = False
            return False
        self.store_ready = True
        return True

    async def migrated(self) -> bool:
        return await current_revision(self.engine) == self.migrations_head


def build_store(settings: Settings, dimensions: int) -> VectorStore:
    if settings.qdrant_url:
        key = settings.qdrant_api_key.get_secret_value() if settings.qdrant_api_key else None
        return ServerStore.connect(settings.qdrant_url, key, settings.collection_name, dimensions, settings.qdrant_timeout_seconds)
    return EmbeddedStore(settings.vector_dir / settings.collection_name, dimensions)


def migrate_once(settings: Settings) -> None:
    """Apply migrations to the embedded SQLite database under a file lock: workers starting together
    (gunicorn -w N with QDRANT_URL set) would otherwise race on alembic_version and one would fail."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    with (settings.data_dir / ".migrate.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        run_migrations(settings.sqlalchemy_url)


async def open_resources(settings: Settings, in_flight: InFlight) -> Resources:
    api_key, _ = load_or_create_api_key(settings)
    if settings.is_sqlite and settings.auto_migrate:
        await to_thread.run_sync(migrate_once, settings)
    engine = create_engine(settings)
    db = session_factory(engine)
    redis = RedisLink(settings.redis_url, settings.redis_timeout_seconds, settings.redis_retry_seconds)
    cache = Cache(redis, settings.cache_max_entries)
    limiter = RateLimiter(redis, settings.rate_limit_requests_per_minute, settings.rate_limit_tokens_per_minute, settings.rate_limit_concurrent_requests)
    embedder = await to_thread.run_sync(Embedder, settings.embedding_threads, settings.embedding_quantization, settings.models_dir)
    sparse = SparseEncoder()
    store = await to_thread.run_sync(build_store, settings, embedder.dimensions)
    logging_agent = LoggingAgent(db, settings)
    retrieval = RetrievalService(settings, embedder, sparse, store, cache)
    indexing = IndexingService(settings, embedder, sparse, store, db, cache)
    resources = Resources(
        settings=settings,
        api_key=api_key,
        engine=engine,
        db=db,
        redis=redis,
        cache=cache,
        limiter=limiter,
        embedder=embedder,
        sparse=sparse,
        store=store,
        logging_agent=logging_agent,
        indexing=indexing,
        jobs=JobRunner(indexing, db, settings.max_index_content_chars),
        retrieval=retrieval,
        answers=AnswerService(settings, retrieval, cache, logging_agent, db, await to_thread.run_sync(build_provider, settings)),
        in_flight=in_flight,
        migrations_head=await to_thread.run_sync(alembic_head),
    )
    await resources.ensure_store()
    if redis.configured and not await redis.ping():
        log.warning("REDIS_UNAVAILABLE_AT_START", fallback="in-process cache and rate limits until it answers")
    resources.tasks = [
        asyncio.create_task(_every(settings.cleanup_interval_seconds, _cleanup, resources), name="session-cleanup"),
        asyncio.create_task(_every(PENDING_FLUSH_SECONDS, _flush_and_heal, resources), name="pending-flush"),
    ]
    log.info(
        "SERVICE_STARTED",
        database="sqlite" if settings.is_sqlite else "postgresql",
        vector_store=store.kind,
        cache="redis" if redis.configured else "in-process",
        environment=settings.environment,
        answers=settings.llm_provider,
    )
    return resources


async def _every(seconds: float, job, resources: Resources) -> None:  # type: ignore[no-untyped-def]
    while True:
        await asyncio.sleep(seconds)
        try:
            await job(resources)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - a scheduled job must survive its own failures; it is logged
            log.error("SCHEDULED_JOB_FAILED", job=getattr(job, "__name__", "job"), error=type(exc).__name__, message=str(exc)[:200])


async def _cleanup(resources: Resources) -> None:
    await resources.logging_agent.cleanup_old_sessions_async(resources.settings.session_retention_days)


async def _flush_and_heal(resources: Resources) -> None:
    if resources.logging_agent.pending:
        await resources.logging_agent.flush_pending()
    if not resources.store_ready:
        await resources.ensure_store()


async def close_resources(resources: Resources) -> None:
    await resources.jobs.close()  # an unfinished bulk job is recorded as interrupted
    if resources.answers.provider is not None:
        with contextlib.suppress(Exception):
            await resources.answers.provider.close()
    for task in resources.tasks:
        task.cancel()
    for task in resources.tasks:
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task
    # Bounded: a database that is down fails the first write within DB_TIMEOUT_SECONDS; a long backlog on a
    # healthy one gets the shutdown grace period, no more.
    with contextlib.suppress(Exception):
        async with asyncio.timeout(resources.settings.shutdown_grace_seconds):
            await resources.logging_agent.flush_pending()
    if resources.logging_agent.pending:
        log.error("MESSAGES_NOT_RECORDED_AT_SHUTDOWN", pending=len(resources.logging_agent.pending))
    await to_thread.run_sync(resources.store.close)
    await resources.redis.close()
    # Closing pooled connections to a server that stopped answering waits on each; do not let that hold shutdown.
    with contextlib.suppress(Exception):
        async with asyncio.timeout(resources.settings.db_timeout_seconds * 4):
            await resources.engine.dispose()
    log.info("SERVICE_STOPPED")
