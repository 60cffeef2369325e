"""The restore check's order: refuse an embedded store without its snapshot, restore into a scratch copy, check
the migrations, then the answer; the scratch copy is removed whatever happened (unless kept)."""

from __future__ import annotations

from contextlib import ExitStack
from pathlib import Path

from anyio import to_thread

from src.kit.settings import Settings
from src.ops.restore.checks import check_answer, check_migrations
from src.ops.restore.postgres import PostgresScratch
from src.ops.restore.report import RestoreReport
from src.ops.restore.scratch import Scratch
from src.ops.restore.sqlite import SQLiteScratch, is_sqlite_file
from src.ops.restore.vectors import UnusableSnapshot, scratch_data_dir


def _checked_settings(settings: Settings, scratch: Scratch, data_dir: Path | None) -> Settings:
    """The service's settings on the copy: no Redis (no cached answer can stand in), and the restored vector
    store when a snapshot was unpacked."""
    overrides: dict[str, object] = {"database_url": scratch.database_url, "auto_migrate": False, "redis_url": None}
    if data_dir is not None:
        overrides |= {
            "data_dir": data_dir,
            "qdrant_url": None,
            "log_dir": data_dir / "logs",
            "model_cache_dir": settings.models_dir.resolve(),
        }
    return settings.model_copy(update=overrides)


async def _restore_and_check(
    report: RestoreReport,
    scratch: Scratch,
    settings: Settings,
    dump: Path,
    question: str,
    vectors: Path | None,
    expect_source: str | None,
) -> None:
    try:
        detail = await to_thread.run_sync(scratch.restore, dump)
    except (RuntimeError, OSError) as exc:
        report.add("restore", False, f"{dump}: {exc}")
        return
    report.add("restore", True, detail)
    with ExitStack() as unpacked:
        try:
            data_dir = unpacked.enter_context(scratch_data_dir(vectors))
        except UnusableSnapshot as exc:
            report.add("vectors", False, str(exc))
            return
        checked = _checked_settings(settings, scratch, data_dir)
        if await check_migrations(report, checked):
            await check_answer(report, checked, question, expect_source)


async def restore_check(
    settings: Settings,
    dump: Path,
    question: str,
    *,
    server_url: str | None = None,
    vectors: Path | None = None,
    expect_source: str | None = None,
    keep: bool = False,
) -> RestoreReport:
    """Restore `dump` into a scratch copy, check it, and remove the copy (unless `keep`): an SQLite database
    into a scratch folder, a PostgreSQL dump into a scratch database on `server_url` (default: the
    service's database server)."""
    if vectors is None and not settings.qdrant_url:
        # The embedded store lives under DATA_DIR: the service holds it, and it is not the backup's.
        report = RestoreReport(database=str(dump))
        report.add(
            "vectors",
            False,
            f"the vector store is embedded (under {settings.data_dir}): pass the backup's snapshot with"
            " --vectors <backup>/vectors.tar.gz; the live store is not opened",
        )
        return report
    sqlite = await to_thread.run_sync(is_sqlite_file, dump)
    scratch: Scratch = SQLiteScratch.new() if sqlite else PostgresScratch.on(server_url or settings.database_url)
    report = RestoreReport(database=scratch.label)
    await to_thread.run_sync(scratch.create)
    try:
        await _restore_and_check(report, scratch, settings, dump, question, vectors, expect_source)
        return report
    finally:
        if not keep:
            await to_thread.run_sync(scratch.remove)
