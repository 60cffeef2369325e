"""The checks of a restored copy: its schema (migrations) and a known question (answer). Each adds its step
to the report and says whether it passed."""

from __future__ import annotations

from anyio import to_thread
from sqlalchemy import inspect, select, text
from sqlalchemy.ext.asyncio import AsyncConnection

from src.answering.service import Asked
from src.container import close_container, open_container
from src.db.migrations import alembic_head, current_revision, run_migrations, schema_state
from src.db.models import Base, IndexedDocument
from src.kit.db import create_engine, session_factory, transaction
from src.kit.middleware import InFlight
from src.kit.settings import Settings
from src.ops.restore.report import RestoreReport


async def _tables_and_rows(conn: AsyncConnection) -> tuple[set[str], dict[str, int]]:
    """The copy's tables, and the rows of each table of src/db/models.py it has."""
    tables = set(await conn.run_sync(lambda sync: inspect(sync).get_table_names()))
    counts = {}
    for table in sorted(Base.metadata.tables):
        if table in tables:
            counts[table] = int((await conn.execute(text(f'SELECT count(*) FROM "{table}"'))).scalar_one())
    return tables, counts


async def check_migrations(report: RestoreReport, settings: Settings) -> bool:
    """Bring the copy to this release's head (a newer release's copy is only read) and check its tables."""
    head = alembic_head()
    engine = create_engine(settings)
    try:
        restored = await current_revision(engine)
        # Alembic cannot upgrade from a revision this release does not ship: a newer release's copy is only read.
        state = await schema_state(engine, head)
        if state in ("behind", "missing"):
            await to_thread.run_sync(run_migrations, settings.sqlalchemy_url)
        revision = await current_revision(engine)
        async with engine.connect() as conn:
            tables, counts = await _tables_and_rows(conn)
    finally:
        await engine.dispose()
    rows = "; rows: " + ", ".join(f"{t} {n}" for t, n in counts.items())
    if state == "ahead_incompatible":
        return report.add(
            "migrations",
            False,
            f"the backup is at revision {restored}, newer than this release (head {head}), and its schema_compatibility"
            f" does not list {head}: check it with the release that made it{rows}",
        )
    missing = sorted(set(Base.metadata.tables) - tables)
    if state == "ahead_compatible":
        how = f"ahead_compatible: a newer release's schema that lists this release's head {head}, left as it is"
    else:
        how = "at head" if state == "current" else f"upgraded from {restored or 'an empty schema'}"
    return report.add(
        "migrations",
        (revision == head or state == "ahead_compatible") and not missing,
        f"{how}: revision {revision}" + (f", missing tables {', '.join(missing)}" if missing else "") + rows,
    )


async def check_answer(report: RestoreReport, settings: Settings, question: str, expect_source: str | None) -> bool:
    """Ask `question` of the service opened on the copy: it must cite files the restored registry lists."""
    container = await open_container(settings, InFlight())
    try:
        async with transaction(session_factory(container.engine)) as db:
            registered = set((await db.execute(select(IndexedDocument.source_file))).scalars())
        result = await container.answers.answer(Asked(question=question))
    finally:
        await close_container(container)
    cited = {c.source_file for c in result.citations if c.source_file}
    problems = []
    if result.refused or not result.citations:
        problems.append("refused, or no citation")
    if cited - registered:
        problems.append(f"cites files the restored registry does not list: {', '.join(sorted(cited - registered))}")
    if expect_source and expect_source not in cited:
        problems.append(f"{expect_source} is not cited")
    detail = f"{len(result.citations)} citations from {', '.join(sorted(cited)) or 'nothing'}"
    return report.add("answer", not problems, "; ".join([*problems, detail]))
