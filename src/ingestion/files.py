"""Files on disk into index requests: which files are documents, their type, chapter and URL."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path
from typing import Any

from src.ingestion.markdown import split_front_matter
from src.ingestion.rst import expand_literalincludes
from src.ingestion.schemas import DocumentType, IndexMetadata
from src.ingestion.sites import Generator, chapter_number, detect_generator, page_url
from src.kit.logging import get_logger

log = get_logger(__name__)

DOCUMENT_TYPES: dict[str, DocumentType] = {
    ".md": "markdown",
    ".mdx": "markdown",
    ".markdown": "markdown",
    ".rst": "rst",
    ".html": "html",
    ".htm": "html",
    ".txt": "text",
    ".pdf": "pdf",
}
_SKIP_DIRS = {"node_modules", ".git", "build", "_build", ".docusaurus", "__pycache__", "quizzes"}
_SKIP_NAMES = {"SUMMARY.md", "LICENSE.md", "SOURCE.md", "CHANGELOG.md", "CONTRIBUTING.md"}


OutsideRoot = Callable[
    [Path, Path], None
]  # told of a path skipped because it resolves outside the book: (path, target)


def _log_outside(path: Path, target: Path) -> None:
    log.warning("DOCUMENT_OUTSIDE_BOOK_SKIPPED", path=str(path), target=str(target))


def discover(path: Path, root: Path | None = None, outside: OutsideRoot = _log_outside) -> list[Path]:
    """The document files at or under `path`, sorted. A file or folder whose real path is outside the
    book `root` (default: `path`, or a file's folder) is skipped and passed to `outside`: a symlink in
    the book to /etc/... would otherwise be published as a page. Symlinked folders are not entered (one
    that points inside the book is walked at its real place); symlinked files inside the book are kept."""
    book = (root or (path if path.is_dir() else path.parent)).resolve()

    def inside(candidate: Path) -> bool:
        target = candidate.resolve()
        if target == book or book in target.parents:
            return True
        outside(candidate, target)
        return False

    if path.is_file():
        return [path] if path.suffix.lower() in DOCUMENT_TYPES and inside(path) else []
    if not path.is_dir() or not inside(path):
        return []
    found = []
    for folder, dirs, names in os.walk(path):  # never follows a symlinked folder
        here = Path(folder)
        dirs[:] = [d for d in dirs if d not in _SKIP_DIRS]
        for name in [d for d in dirs if (here / d).is_symlink()]:
            dirs.remove(name)
            inside(here / name)  # reported when it leads out of the book
        for name in names:
            candidate = here / name
            wanted = candidate.suffix.lower() in DOCUMENT_TYPES and name not in _SKIP_NAMES and candidate.is_file()
            if wanted and (not candidate.is_symlink() or inside(candidate)):
                found.append(candidate)
    return sorted(found)


def source_file_of(path: Path, root: Path, prefix: str | None = None) -> str:
    """The name a file is indexed under: its path under `root`, after `prefix/`."""
    relative = path.relative_to(root).as_posix()
    return f"{prefix}/{relative}" if prefix else relative


def category_of(path: Path, root: Path) -> tuple[str | None, int | None]:
    """The label and position of the nearest Docusaurus `_category_.json` above the file."""
    folder = path.parent
    while True:
        category = folder / "_category_.json"
        if category.exists():
            try:
                data: dict[str, Any] = json.loads(category.read_text(encoding="utf-8"))
            except (json.JSONDecodeError, OSError):
                data = {}
            position = data.get("position")
            return (str(data["label"]) if data.get("label") else None), (
                int(position) if isinstance(position, int | float) else None
            )
        if folder == root or root not in folder.parents:
            return None, None
        folder = folder.parent


@lru_cache(maxsize=64)
def generator_of(root: Path) -> Generator:
    return detect_generator(root)


def read_document(
    path: Path, root: Path, base_url: str | None, prefix: str | None = None
) -> tuple[str | bytes, IndexMetadata]:
    """A file's content and its index metadata. `source_file` is its path under `root` (after `prefix/`)."""
    document_type = DOCUMENT_TYPES[path.suffix.lower()]
    relative = path.relative_to(root).as_posix()
    generator = generator_of(root)
    content: str | bytes = path.read_bytes() if document_type == "pdf" else path.read_text(encoding="utf-8")
    if isinstance(content, str) and document_type == "rst":  # the book's files are at hand: its includes are read
        content = expand_literalincludes(content, path, root)
    front: dict[str, Any] = (
        split_front_matter(content)[0] if isinstance(content, str) and document_type == "markdown" else {}
    )
    label, position = category_of(path, root) if generator == "docusaurus" else (None, None)
    meta = IndexMetadata(
        source_file=source_file_of(path, root, prefix),
        chapter=label,
        chapter_number=chapter_number(relative, front, position),
        url=page_url(relative, base_url, generator, front),
        document_type=document_type,
        site=generator,
    )
    return content, meta
