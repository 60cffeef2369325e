"""`index` reads a folder or glob into the index in process (same code as the HTTP API), with a
progress bar and a summary. `--prune` removes documents whose files left the book (a file that
fails to read is still there, and keeps its chunks); `--dry-run` reports what it would do and writes
nothing; a file with no text left to index keeps its chunks unless `--allow-empty`. Files and
folders linked from outside the book folder are skipped. With the embedded vector store, run it
while the server is stopped (the store serves one process); with QDRANT_URL it can run beside the
server.
"""

from __future__ import annotations

import asyncio
import contextlib
import glob
import os
import re
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from src.cli.output import console, say
from src.ingestion.files import DOCUMENT_TYPES, discover, read_document, source_file_of
from src.kit.settings import get_settings

if TYPE_CHECKING:
    from src.container import Container

_TOTALS = ("files", "chunks", "new", "unchanged", "deleted", "failed", "removed files")
_SUMMARY = ("files", "chunks", "new", "unchanged", "deleted", "removed files", "failed")


def index(
    paths: Annotated[list[str], typer.Argument(help="Folders, files or globs (quote globs)")],
    root: Annotated[
        Path | None, typer.Option(help="Book root: source_file names are relative to it (default: the common folder)")
    ] = None,
    base_url: Annotated[str | None, typer.Option(help="The published site's URL, for citation links")] = None,
    prefix: Annotated[
        str | None, typer.Option(help="Put source_file names under this prefix (several books in one index)")
    ] = None,
    prune: Annotated[
        bool,
        typer.Option(
            "--prune",
            help="Also remove indexed files (under --prefix) that are no longer on disk; needs a folder or glob, or --prefix",
        ),
    ] = False,
    if_empty: Annotated[bool, typer.Option("--if-empty", help="Do nothing if the index already has chunks")] = False,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Only report what indexing and --prune would do: write nothing")
    ] = False,
    allow_empty: Annotated[
        bool,
        typer.Option(
            "--allow-empty",
            help="Let a file with no text to index remove all chunks of its indexed version (refused otherwise)",
        ),
    ] = False,
) -> None:
    """Index a book folder (Markdown, MDX, reStructuredText, HTML, text, PDF), a file, or a glob."""
    literal = [p for p in paths if not _is_glob(p) and not Path(p).is_dir()]
    if prune and prefix is None and literal:
        # Every other indexed document would count as gone from disk, and be removed.
        typer.echo(
            f"index: refused: --prune with the file {literal[0]!r} would remove every other document; pass its folder, or --prefix",
            err=True,
        )
        raise typer.Exit(2)
    book_root = (root or _common_root(paths)).resolve()

    def outside(path: Path, target: Path) -> None:
        say("skipped", "yellow", f"{path}: it leads to {target}, outside the book folder {book_root}")

    files: set[Path] = set()
    for pattern in paths:
        matches = [Path(p) for p in glob.glob(pattern, recursive=True)] if _is_glob(pattern) else [Path(pattern)]
        for match in matches:
            files.update(f.resolve() for f in discover(match, book_root, outside))
    if not files:
        console.print(Text(f"No indexable files ({', '.join(sorted(DOCUMENT_TYPES))}) under {', '.join(paths)}."))
        raise typer.Exit(1)
    options = {"if_empty": if_empty, "prune": prune, "dry_run": dry_run, "allow_empty": allow_empty}
    raise typer.Exit(asyncio.run(_index(sorted(files), book_root, base_url, prefix, **options)))


def _is_glob(pattern: str) -> bool:
    """A pattern with wildcards that is not itself a path on disk (a folder may be named `notes[1]`)."""
    return any(c in pattern for c in "*?[") and not Path(pattern).exists()


def _common_root(patterns: list[str]) -> Path:
    """The folder the arguments name (for a glob, the part before the first wildcard)."""
    bases = []
    for pattern in patterns:
        head = re.split(r"[*?\[]", pattern, maxsplit=1)[0] if _is_glob(pattern) else pattern
        base = Path(head or ".")
        bases.append(str((base if base.is_dir() else base.parent).resolve()))
    return Path(os.path.commonpath(bases)) if bases else Path.cwd()


async def _index(
    paths: list[Path],
    root: Path,
    base_url: str | None,
    prefix: str | None,
    *,
    if_empty: bool,
    prune: bool,
    dry_run: bool,
    allow_empty: bool,
) -> int:
    from src.container import close_container, open_container
    from src.kit.logging import configure_logging
    from src.kit.middleware import InFlight

    settings = get_settings()
    configure_logging(
        "WARNING", settings.log_dir, settings.log_json, settings.log_file_max_bytes, settings.log_file_backups
    )
    container = await open_container(settings, InFlight())
    try:
        if if_empty and container.store.count() > 0:
            console.print(f"The index already holds {container.store.count()} chunks: nothing to do.")
            return 0
        totals = dict.fromkeys(_TOTALS, 0)
        started = time.perf_counter()
        await _index_files(container, paths, root, base_url, prefix, totals, dry_run=dry_run, allow_empty=allow_empty)
        if prune:
            await _prune(container, paths, root, prefix, totals, dry_run=dry_run)
        if container.store.needs_optimize() and not dry_run:
            console.print("Building the search index (HNSW)...")
            await container.indexing.optimize_now()
        _print_summary(totals, started, dry_run=dry_run)
        return 1 if totals["failed"] else 0
    finally:
        await close_container(container)


async def _index_files(
    container: Container,
    paths: list[Path],
    root: Path,
    base_url: str | None,
    prefix: str | None,
    totals: dict[str, int],
    *,
    dry_run: bool,
    allow_empty: bool,
) -> None:
    """Index (or, in a dry run, preview) every file behind a progress bar, adding each outcome to `totals`."""
    from src.ingestion.bulk import Load, index_many, preview_many
    from src.ingestion.schemas import IndexMetadata
    from src.ingestion.service import EmptyReindex, IndexOutcome

    skipped = "would skip" if dry_run else "skipped"
    columns = (TextColumn("{task.description}", markup=False), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console) as progress:
        task = progress.add_task("indexing", total=len(paths))

        def loader(path: Path) -> Load:
            def load() -> tuple[str | bytes, IndexMetadata]:
                return read_document(path, root, base_url, prefix)

            return load

        async def report(position: int, result: IndexOutcome | Exception) -> None:
            path = paths[position]
            progress.update(task, description=str(path.relative_to(root))[:60])
            if isinstance(result, EmptyReindex):  # nothing was removed: say how to remove it on purpose
                totals["failed"] += 1
                say(
                    skipped,
                    "red",
                    f"{path}: {result.reason}; pass --allow-empty to empty it, or delete the file and --prune",
                )
            elif isinstance(result, Exception):
                totals["failed"] += 1
                say(skipped, "red", f"{path}: {result}")
            else:
                totals["files"] += 1
                totals["chunks"] += result.indexed_chunks
                totals["new"] += result.chunks_new
                totals["unchanged"] += result.chunks_unchanged
                totals["deleted"] += result.chunks_deleted
                if dry_run and result.status != "unchanged":
                    changes = (
                        f"{result.indexed_chunks} chunks ({result.chunks_new} new, {result.chunks_deleted} removed)"
                    )
                    say("would index", "cyan", f"{path}: {changes}")
            progress.advance(task)

        loads = [loader(p) for p in paths]
        allowed = range(len(paths)) if allow_empty else range(0)
        if dry_run:
            await preview_many(container.indexing, loads, report, allowed)
        else:
            await index_many(container.indexing, loads, report, container.settings.index_pool_chunks, allowed)


async def _prune(
    container: Container,
    paths: list[Path],
    root: Path,
    prefix: str | None,
    totals: dict[str, int],
    *,
    dry_run: bool,
) -> None:
    """Remove (or, in a dry run, list) the indexed documents under `prefix` whose files are not among `paths`."""
    from src.ingestion.repository import DocumentRepository
    from src.ingestion.service import DocumentNotFound
    from src.kit.db import transaction

    # What is on disk is every file found under the arguments, read or not: a file that failed to
    # read is still the book's, and keeps its chunks until it is fixed or removed.
    present = {source_file_of(p, root, prefix) for p in paths}
    async with transaction(container.db) as session:
        registered = await DocumentRepository(session).list(1_000_000, 0)
    gone = [
        d
        for d in registered
        if d.source_file not in present and (d.source_file.startswith(prefix + "/") if prefix else True)
    ]
    would = "would " if dry_run else ""
    for document in gone:  # all listed before the first is removed
        say(
            f"{would}remove",
            "yellow",
            f"{document.source_file} ({document.chunk_count} chunks): not among the files found on disk",
        )
    for document in gone:
        totals["removed files"] += 1
        if dry_run:
            totals["deleted"] += document.chunk_count
            continue
        with contextlib.suppress(DocumentNotFound):  # removed meanwhile: nothing left to do
            totals["deleted"] += await container.indexing.delete(document.source_file)


def _print_summary(totals: dict[str, int], started: float, *, dry_run: bool) -> None:
    """The totals as a table on stdout, with the seconds since `started`."""
    table = Table(title="Dry run: nothing was written" if dry_run else "Indexing summary")
    for column in (*_SUMMARY, "seconds"):
        table.add_column(column, justify="right")
    table.add_row(*(str(totals[c]) for c in _SUMMARY), f"{time.perf_counter() - started:.1f}")
    Console().print(table)
