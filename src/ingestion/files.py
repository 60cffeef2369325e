"""Files on disk into index requests: which files are documents, their type, chapter and URL."""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any

from src.ingestion.markdown import split_front_matter
from src.ingestion.schemas import DocumentType, IndexMetadata
from src.ingestion.sites import Generator, chapter_number, detect_generator, page_url

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


def discover(path: Path) -> list[Path]:
    if path.is_file():
        return [path] if path.suffix.lower() in DOCUMENT_TYPES else []
    found = []
    for candidate in path.rglob("*"):
        wanted = candidate.is_file() and candidate.suffix.lower() in DOCUMENT_TYPES and candidate.name not in _SKIP_NAMES
        if wanted and not _SKIP_DIRS.intersection(candidate.relative_to(path).parts):
            found.append(candidate)
    return found


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
            return (str(data["label"]) if data.get("label") else None), (int(position) if isinstance(position, int | float) else None)
        if folder == root or root not in folder.parents:
            return None, None
        folder = folder.parent


@lru_cache(maxsize=64)
def generator_of(root: Path) -> Generator:
    return detect_generator(root)


def read_document(path: Path, root: Path, base_url: str | None, prefix: str | None = None) -> tuple[str | bytes, IndexMetadata]:
    """A file's content and its index metadata. `source_file` is its path under `root` (after `prefix/`)."""
    document_type = DOCUMENT_TYPES[path.suffix.lower()]
    relative = path.relative_to(root).as_posix()
    generator = generator_of(root)
    content: str | bytes = path.read_bytes() if document_type == "pdf" else path.read_text(encoding="utf-8")
    front: dict[str, Any] = split_front_matter(content)[0] if isinstance(content, str) and document_type == "markdown" else {}
    label, position = category_of(path, root) if generator == "docusaurus" else (None, None)
    meta = IndexMetadata(
        source_file=f"{prefix}/{relative}" if prefix else relative,
        chapter=label,
        chapter_number=chapter_number(relative, front, position),
        url=page_url(relative, base_url, generator, front),
        document_type=document_type,
        site=generator,
    )
    return content, meta
