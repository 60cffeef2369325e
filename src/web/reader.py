"""The reading page's documents: Markdown files of READER_DIR (the project's own docs/ for `make run`)
rendered as HTML with the same heading anchors the indexed chunks' `url#anchor` use, so a citation
opens the section it quotes. Rendered by markdown-it with raw HTML escaped: book text never becomes
markup, and links other than http(s), mailto and relative ones are dropped."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from markdown_it import MarkdownIt
from markdown_it.token import Token

from src.ingestion.markdown import clean_heading, split_front_matter


def _markdown() -> MarkdownIt:
    md = MarkdownIt("commonmark", {"html": False}).enable("table")

    def heading_open(renderer: Any, tokens: list[Token], idx: int, options: Any, env: dict[str, Any]) -> str:
        # The anchor exactly as ingestion computes it (src/ingestion/markdown.py), repeats numbered.
        raw = tokens[idx + 1].content if idx + 1 < len(tokens) else ""
        _, anchor = clean_heading(raw)
        if anchor:
            counts: dict[str, int] = env.setdefault("anchors", {})
            seen = counts.get(anchor, 0)
            counts[anchor] = seen + 1
            tokens[idx].attrSet("id", f"{anchor}-{seen}" if seen else anchor)
        return str(renderer.renderToken(tokens, idx, options, env))

    md.add_render_rule("heading_open", heading_open)
    return md


_MD = _markdown()


def document_path(root: Path, source_file: str) -> Path | None:
    """The file for a source_file under `root`, or None when it is not a Markdown file inside it."""
    base = root.resolve()
    path = (base / source_file).resolve()
    if path.suffix.lower() not in {".md", ".markdown"} or not path.is_file() or base not in path.parents:
        return None
    return path


def render(text: str) -> str:
    _, body = split_front_matter(text.replace("\r\n", "\n"))
    return str(_MD.render(body, {}))
