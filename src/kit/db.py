"""The database engine (SQLite by default, PostgreSQL when NEON_DB_URL or DATABASE_URL is set),
and the one-transaction-per-request dependency.

Every wait on the database is bounded by DB_TIMEOUT_SECONDS: connecting, waiting for a pooled
connection, and (twice that) each statement. A database that cannot be reached raises
`DatabaseUnavailable`, an `OperationalError`, whatever the driver raised underneath (asyncpg raises
the builtin TimeoutError or OSError for a connection it cannot open or a server that stopped
answering), so callers handle one family of errors and the app answers 503, never 500.

The DSNs are converted here too, and only here: the engine takes `postgresql+asyncpg://` with asyncpg's `ssl=`,
psql and pg_dump take libpq's `postgresql://` with `sslmode=`.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

from sqlalchemy import URL, Result, event, make_url
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

if TYPE_CHECKING:
    # Only a type here: the settings import this module, for their DSN validator.
    from src.kit.settings import Settings

# What asyncpg (and the socket layer under any driver) raises, unwrapped, when the server is gone.
CONNECTION_ERRORS = (OSError, TimeoutError, ConnectionError)


class DatabaseUnavailable(OperationalError):
    """The database could not be reached or stopped answering in time."""

    def __init__(self, orig: BaseException) -> None:
        super().__init__(None, None, orig, connection_invalidated=True)

    def __str__(self) -> str:
        return f"database unavailable: {type(self.orig).__name__}: {self.orig}"


# The DSNs operators paste, as libpq names them; the engine uses asyncpg for every one.
_LIBPQ_SCHEMES = ("postgres://", "postgresql://", "postgresql+psycopg2://", "postgresql+psycopg://")
_ASYNCPG_SCHEME = "postgresql+asyncpg://"


def engine_dsn(value: str) -> str:
    """DATABASE_URL / NEON_DB_URL as written (postgres://, postgresql://, sqlite://) made the async drivers' URL.

    Text edits, not a parse and render: the rest of a working URL (its quoting, its parameters' order) stays as
    the operator wrote it."""
    for scheme in _LIBPQ_SCHEMES:
        if value.startswith(scheme):
            value = _ASYNCPG_SCHEME + value[len(scheme) :]
            break
    if value.startswith("sqlite://") and not value.startswith("sqlite+aiosqlite://"):
        value = "sqlite+aiosqlite://" + value[len("sqlite://") :]
    if value.startswith(_ASYNCPG_SCHEME):
        # asyncpg takes `ssl`, not libpq's `sslmode`; Neon URLs carry sslmode=require.
        value = value.replace("sslmode=", "ssl=").replace("&channel_binding=require", "")
    return value


def _renamed(url: URL, drivername: str, parameter: str, to: str) -> str:
    query = dict(url.query)
    if parameter in query:
        query[to] = query.pop(parameter)
    return url.set(drivername=drivername, query=query).render_as_string(hide_password=False)


def libpq_url(url: str) -> str:
    """A URL psql, pg_dump and libpq take (`postgresql://`, `sslmode=`), from the engine's (`postgresql+asyncpg://`,
    `ssl=`) or another `postgresql[+driver]://` URL; ValueError for anything else (`postgres://` included)."""
    parsed = make_url(url)
    if not parsed.drivername.startswith("postgresql"):
        raise ValueError(f"not a PostgreSQL URL: {parsed.drivername}")
    return _renamed(parsed, "postgresql", "ssl", "sslmode")


def asyncpg_url(url: str) -> str:
    """The engine's URL (`postgresql+asyncpg://`, `ssl=`) for the database a libpq URL names. libpq's
    `channel_binding` (Neon's URLs carry it) is dropped: asyncpg refuses parameters it does not know."""
    parsed = make_url(url)
    parsed = parsed.set(query={k: v for k, v in parsed.query.items() if k != "channel_binding"})
    return _renamed(parsed, "postgresql+asyncpg", "sslmode", "ssl")


def with_database(url: str, database: str) -> str:
    """`url` naming another database on the same server."""
    return make_url(url).set(database=database).render_as_string(hide_password=False)


def sqlite_url(path: Path) -> str:
    """The engine's URL of the SQLite database at `path`."""
    return f"sqlite+aiosqlite:///{path}"


def create_engine(settings: Settings) -> AsyncEngine:
    url = settings.sqlalchemy_url
    if url.startswith("sqlite"):
        if ":///" in url and ":memory:" not in url:
            Path(url.split(":///", 1)[1]).parent.mkdir(parents=True, exist_ok=True)
        # hide_parameters: an error's text (which may reach a log line) never carries a student's question.
        engine = create_async_engine(url, connect_args={"timeout": settings.db_timeout_seconds}, hide_parameters=True)
        busy_ms = max(1, int(settings.db_timeout_seconds * 1000))

        @event.listens_for(engine.sync_engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _: Any) -> None:
            cursor = dbapi_conn.cursor()
            cursor.execute("PRAGMA foreign_keys=ON")  # cascades need it, per connection
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute(f"PRAGMA busy_timeout={busy_ms}")
            cursor.close()

        return engine
    return create_async_engine(
        url,
        hide_parameters=True,
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_max_overflow,
        pool_pre_ping=True,
        pool_timeout=settings.db_timeout_seconds,
        connect_args={"timeout": settings.db_timeout_seconds, "command_timeout": settings.db_timeout_seconds * 2},
    )


def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


@asynccontextmanager
async def _transaction_scope(factory: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncSession]:
    async with factory() as session:
        try:
            yield session
            await session.commit()
        except BaseException as exc:
            # The rollback may fail too when the connection is gone; the first error is the one that matters.
            with contextlib.suppress(Exception):
                await session.rollback()
            if isinstance(exc, CONNECTION_ERRORS):
                raise DatabaseUnavailable(exc) from exc
            raise


class Transaction:
    """One transaction: commit on success, roll back on error. Repositories never commit.

    Use `async with transaction(factory) as session:`. A connection failure (raw OSError / TimeoutError
    from the driver) comes out as DatabaseUnavailable.

    `async for session in transaction(factory):` also works, for older callers, but an exception raised
    in an `async for` body never reaches the transaction (Python does not throw it into the iterator):
    the rollback then waits for garbage collection and the error is not translated. Prefer `async with`.
    """

    def __init__(self, factory: async_sessionmaker[AsyncSession]) -> None:
        self._scope = _transaction_scope(factory)

    async def __aenter__(self) -> AsyncSession:
        return await self._scope.__aenter__()

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> bool | None:
        return await self._scope.__aexit__(exc_type, exc, tb)

    def __aiter__(self) -> AsyncIterator[AsyncSession]:
        return self._once()

    async def _once(self) -> AsyncIterator[AsyncSession]:
        async with self as session:
            yield session


def transaction(factory: async_sessionmaker[AsyncSession]) -> Transaction:
    return Transaction(factory)


def affected_rows(result: Result[Any]) -> int:
    """How many rows an UPDATE or DELETE touched (a cursor result's rowcount; 0 when the driver cannot tell)."""
    return int(getattr(result, "rowcount", 0) or 0)
