"""Alembic environment: runs the migrations on the service's own database URL, async."""

from __future__ import annotations

import asyncio
from logging.config import fileConfig

from alembic import context
from sqlalchemy.engine import Connection

from src.db.migrations import include_name, record_compatibility
from src.db.models import Base
from src.kit.db import create_engine
from src.kit.settings import Settings

config = context.config
if config.config_file_name is not None and not config.attributes.get("skip_logging_config"):
    fileConfig(config.config_file_name, disable_existing_loggers=False)

target_metadata = Base.metadata


def _settings() -> Settings:
    url = config.attributes.get("database_url")
    return Settings(database_url=url) if url else Settings()


def run_migrations_offline() -> None:
    context.configure(
        url=_settings().sqlalchemy_url, target_metadata=target_metadata, literal_binds=True, render_as_batch=True
    )
    with context.begin_transaction():
        context.run_migrations()


# pg_advisory_xact_lock's key for "this database's migrations": instances starting together (replicas of a
# Deployment, a swarm update) take turns, and each one after the first finds the schema already at head.
MIGRATION_LOCK = 7_305_120_104


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        include_name=include_name,
    )
    with context.begin_transaction():
        if connection.dialect.name == "postgresql":
            # Held until the transaction ends; Alembic reads the current revision after it is granted.
            connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({MIGRATION_LOCK})")
        context.run_migrations()
        # Which release heads can run on the schema as it now is (expand and contract).
        record_compatibility(connection, context.get_context().get_current_revision())


async def run_migrations_online() -> None:
    engine = create_engine(_settings())
    try:
        async with engine.connect() as connection:
            sqlite = connection.dialect.name == "sqlite"
            if sqlite:
                # Batch mode rebuilds a SQLite table by copying it and dropping the original; with
                # foreign keys on, dropping user_sessions would cascade-delete every message. The
                # pragma only takes effect outside a transaction, so it comes first.
                await connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
                await connection.commit()
            await connection.run_sync(_run)
            await connection.commit()
            if sqlite:
                broken = (await connection.exec_driver_sql("PRAGMA foreign_key_check")).fetchall()
                await connection.exec_driver_sql("PRAGMA foreign_keys=ON")
                await connection.commit()
                if broken:
                    raise RuntimeError(f"foreign key violations after migrating: {broken[:10]}")
    finally:
        await engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    asyncio.run(run_migrations_online())
