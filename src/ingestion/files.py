"""Files on disk into index requests: which files are documents, their type, title and URL."""

from __future__ import annotations

import json
from pathlib import Path

from src.ingestion.schemas import IndexMetadata

DOCUMENT_TYPES = {".md": "markdown", ".mdx": "markdown", ".markdown": "markdown", ".html": "html", ".htm": "html", ".txt": "text"}
_SKIP_DIRS = {"node_modules", ".git", "build", ".docusaurus", "__pycache__"}
_SKIP_NAMES = {"SUMMARY.md", "LICENSE.md", "SOURCE.md", "CHANGELOG.md"}


def discover(path: Path) -> list[Path]:
    if path.is_file():
        return [path] if path.suffix.lower() in DOCUMENT_TYPES else []
    found = []
    for candidate in path.rglob("*"):
        wanted = candidate.is_file() and candidate.suffix.lower() in DOCUMENT_TYPES and candidate.name not in _SKIP_NAMES
        if wanted and not _SKIP_DIRS.intersection(candidate.relative_to(path).parts):
            found.append(candidate)
    return found


def category_label(path: Path, root: Path) -> str | None:
    """Docusaurus `_category_.json` label of the file's folder, if any."""
    folder = path.parent
    while True:
        category = folder / "_category_.json"
        if category.exists():
            try:
                label = json.loads(category.read_text(encoding="utf-8")).get("label")
            except (json.JSONDecodeError, OSError):
                label = None
            return str(label) if label else None
        if folder == root or root not in folder.parents:
            return None
        folder = folder.parent


def page_url(relative: str, base_url: str | None) -> str | None:
    """The published page for a source file: Docusaurus and mdBook drop `index`, the extension, and map .md to .html (mdBook)."""
    if not base_url:
        return None
    stem = relative.rsplit(".", 1)[0]
    if stem.endswith("/index") or stem == "index":
        stem = stem[: -len("index")].rstrip("/")
    return base_url.rstrip("/") + "/" + stem


def metadata_for(path: Path, root: Path, base_url: str | None) -> tuple[str, IndexMetadata]:
    content = path.read_text(encoding="utf-8")
    relative = path.relative_to(root).as_posix()
    meta = IndexMetadata(
        source_file=relative,
        chapter=category_label(path, root),
        url=page_url(relative, base_url),
        document_type=DOCUMENT_TYPES[path.suffix.lower()],  # type: ignore[arg-type]
    )
    return content, meta
