"""Where a source file is published and how its headings are anchored, per site generator:
Docusaurus, mdBook, Sphinx and d2lbook. A citation link is `page URL + # + heading anchor`."""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

from docutils.nodes import make_id

from src.ingestion.markdown import slugify

Generator = Literal["docusaurus", "mdbook", "sphinx", "d2lbook", "plain"]
_NUMBER_PREFIX = re.compile(r"^\d+[-_.]")
# A chapter number in a path: `07-gazebo/`, `ch07-`, `chapter_7.md` (any folder level).
_CHAPTER_IN_PATH = re.compile(r"(?:^|/)(?:ch(?:apter)?[_-]?)?(\d{1,3})(?=[-_.])", re.I)


def detect_generator(root: Path) -> Generator:
    if any((root / name).exists() for name in ("docusaurus.config.js", "docusaurus.config.ts")) or next(
        root.rglob("_category_.json"), None
    ):
        return "docusaurus"
    if (root / "book.toml").exists() or (root / "src" / "SUMMARY.md").exists() or (root / "SUMMARY.md").exists():
        return "mdbook"
    if ((root / "config.ini").exists() and "d2lbook" in (root / "config.ini").read_text(errors="ignore")) or next(
        root.glob("chapter_*"), None
    ):
        return "d2lbook"
    if (root / "conf.py").exists() or next(root.rglob("*.rst"), None):
        return "sphinx"
    return "plain"


def slugger_for(generator: Generator) -> Callable[[str], str]:
    """Docusaurus (github-slugger) and mdBook keep hyphens as typed; Sphinx (docutils) collapses them."""
    return make_id if generator in {"sphinx", "d2lbook"} else slugify


def page_path(relative: str, generator: Generator, front_matter: dict[str, Any] | None = None) -> str:
    """The page's path on the published site, relative to the site's base URL (Docusaurus: the
    site root, so `docs/01-intro/index.md` is `docs/intro`)."""
    stem, _, _ = relative.rpartition(".")
    stem = stem or relative
    if generator == "docusaurus":
        slug = str((front_matter or {}).get("slug") or "").strip()
        parts = [_NUMBER_PREFIX.sub("", p) for p in stem.split("/")]  # Docusaurus drops number prefixes
        if (parts and parts[-1].lower() in {"index", "readme"}) or (len(parts) > 1 and parts[-1] == parts[-2]):
            parts = parts[:-1]
        if slug.startswith("/"):  # absolute slugs are relative to the docs route (the `docs/` folder)
            route = stem.split("/")[0] if "/" in stem and stem.split("/")[0] in {"docs", "blog"} else ""
            return "/".join(p for p in (route, slug.strip("/")) if p)
        if slug:
            parts = [*parts[:-1], slug] if parts else [slug]
        return "/".join(parts)
    if generator == "mdbook":
        stem = stem[4:] if stem.startswith("src/") else stem
        return ("index" if stem.lower().endswith("readme") else stem) + ".html"
    if generator in {"sphinx", "d2lbook"}:
        stem = stem[7:] if stem.startswith("source/") else stem
        return stem + ".html"
    return relative


def page_url(
    relative: str, base_url: str | None, generator: Generator, front_matter: dict[str, Any] | None = None
) -> str | None:
    if not base_url:
        return None
    path = page_path(relative, generator, front_matter)
    return base_url.rstrip("/") + ("/" + path if path else "")


def chapter_number_from_path(relative: str) -> int | None:
    match = _CHAPTER_IN_PATH.search(relative)
    return int(match.group(1)) if match else None


def chapter_number(relative: str, front_matter: dict[str, Any] | None, category_position: int | None) -> int | None:
    """Chapter order: the folder's `_category_.json` position, a number prefix in the path (`07-`,
    `ch07-`), or the page's `sidebar_position`, in that order."""
    if category_position is not None:
        return category_position
    from_path = chapter_number_from_path(relative)
    if from_path is not None:
        return from_path
    position = (front_matter or {}).get("sidebar_position")
    return (
        int(position) if isinstance(position, int | float) and math.isfinite(position) else None
    )  # `.inf` and `.nan` are YAML floats
