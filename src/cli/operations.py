"""The operator commands: `migrate` (every start path runs it before serving), `show-key`, `cleanup` and
`restore-check`."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated

import typer
from rich.text import Text

from src.cli.output import console
from src.kit.settings import get_settings


def migrate() -> None:
    """Apply the migrations (`alembic upgrade head`) before a start: every start path runs this. On a
    database a newer release has migrated, change nothing, and exit 0 if its schema_compatibility lists
    this release (a rollback across expand steps), 1 if not (a contract step: downgrade first)."""
    from src.db.migrations import migrate_once
    from src.kit.logging import configure_logging

    settings = get_settings()
    configure_logging(
        "INFO", settings.log_dir, settings.log_json, settings.log_file_max_bytes, settings.log_file_backups
    )
    done = migrate_once(settings)
    if done.state == "current":
        typer.echo(f"migrate: the database is at {done.head}, this release's head")
    elif done.state == "ahead_compatible":
        typer.echo(
            f"migrate: skipped (ahead_compatible): the database is at {done.revision}, a newer release's schema whose"
            f" schema_compatibility lists this release's head {done.head}; the schema is left as it is"
        )
    else:
        # One plain line (no console wrapping): it is what the journal or `docker logs` shows of the failed start.
        typer.echo(
            f"migrate: refused (ahead_incompatible): this release (head {done.head}) cannot run on this database, which a newer"
            f" release migrated to {done.revision}: a contract step since {done.head} removed or changed what this release uses,"
            f" so schema_compatibility does not list {done.head}. The schema is left as it is. To run this release, first"
            " downgrade from the newer release's checkout, which has the migration files:"
            f" `python -m alembic downgrade {done.head}`",
            err=True,
        )
        raise typer.Exit(1)


def show_key() -> None:
    """Print the indexing API key (INDEXING_API_KEY, or the one generated under DATA_DIR)."""
    from src.security.keys import load_or_create_api_key

    settings = get_settings()
    key, path = load_or_create_api_key(settings)
    single = settings.indexing_api_key is not None and settings.indexing_api_key.get_secret_value()
    where = (
        f"kept in {path}"
        if path
        else ("from INDEXING_API_KEY" if single else "the first of INDEXING_API_KEYS / INDEXING_API_KEYS_FILE")
    )
    typer.echo(f"INDEXING_API_KEY={key}  ({where})")


def cleanup(
    days: Annotated[int | None, typer.Option(help="Retention in days (default SESSION_RETENTION_DAYS)")] = None,
) -> None:
    """Remove sessions idle for longer than the retention period."""
    from src.sessions.retention import cleanup_old_sessions

    typer.echo(f"Cleaned up {cleanup_old_sessions(get_settings(), days=days)} old sessions")


def restore_check(
    dump: Annotated[
        Path,
        typer.Argument(
            help="The database backup from scripts/backup.sh: database.sql.gz (or plain SQL), or the SQLite app.db",
            exists=True,
            dir_okay=False,
        ),
    ],
    question: Annotated[str, typer.Option(help="A question the restored book must answer with citations")],
    expect_source: Annotated[
        str | None, typer.Option(help="A source_file the answer must cite (e.g. docs/02-humanoid-robotics/index.md)")
    ] = None,
    vectors: Annotated[
        Path | None,
        typer.Option(
            help="vectors.tar.gz from scripts/backup.sh (the embedded store); without it the configured store answers",
            exists=True,
        ),
    ] = None,
    server_url: Annotated[
        str | None,
        typer.Option(help="PostgreSQL server for the scratch database of a dump (default: NEON_DB_URL / DATABASE_URL)"),
    ] = None,
    keep: Annotated[
        bool, typer.Option("--keep", help="Keep the scratch database, or the SQLite copy (its name or path is printed)")
    ] = False,
) -> None:
    """Restore a backup into a scratch copy (a PostgreSQL database, or an SQLite file), check its migrations and ask it a known question."""
    from src.kit.logging import configure_logging
    from src.ops.restore import restore_check as check

    settings = get_settings()
    configure_logging("WARNING", settings.log_dir, settings.log_json)
    try:
        report = asyncio.run(
            check(
                settings, dump, question, server_url=server_url, vectors=vectors, expect_source=expect_source, keep=keep
            )
        )
    except ValueError as exc:
        console.print(Text(str(exc), style="red"))
        raise typer.Exit(2) from exc
    for step in report.steps:
        typer.echo(f"{'PASS' if step.passed else 'FAIL'}  {step.name}: {step.detail}")
    kept = f" (kept: {report.database})" if keep else ""
    typer.echo(f"restore-check: {'PASSED' if report.passed else 'FAILED'}{kept}")
    raise typer.Exit(0 if report.passed else 1)
