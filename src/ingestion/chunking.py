"""Sections into chunks that fit the embedder: split on headings first, then by the model's own
word-piece count, with overlap. Code fences and math blocks stay whole unless one alone is too
long for a chunk.

The text that is embedded starts with the heading path ("Title > Section > Subsection"), which
places a chunk in its chapter; the stored `content` is the section text alone.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from src.ingestion.document import ParsedDocument, Section

TokenCounter = Callable[[str], int]
_SPECIAL_TOKENS = 2  # [CLS] and [SEP]
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"'(\[])")
_FENCE = re.compile(r"^[ \t]{0,3}(`{3,}|~{3,})")


@dataclass(frozen=True)
class Chunk:
    position: int
    content: str
    embed_text: str
    heading_path: list[str]
    anchor: str | None
    token_count: int
    page: int | None


@dataclass(frozen=True)
class _Block:
    text: str
    tokens: int
    atomic: bool  # code or math: never cut unless alone too long


def split_blocks(text: str) -> list[tuple[str, bool]]:
    """Paragraphs, with each fenced code block and $$ math block kept as one block."""
    blocks: list[tuple[str, bool]] = []
    current: list[str] = []
    fence: str | None = None
    math = False

    def flush(atomic: bool = False) -> None:
        if current and "\n".join(current).strip():
            blocks.append(("\n".join(current).strip("\n"), atomic))
        current.clear()

    for line in text.split("\n"):
        stripped = line.strip()
        if fence:
            current.append(line)
            if stripped.startswith(fence) and set(stripped) <= {fence[0]}:
                fence = None
                flush(atomic=True)
            continue
        if math:
            current.append(line)
            if stripped.endswith("$$"):
                math = False
                flush(atomic=True)
            continue
        match = _FENCE.match(line)
        if match:
            flush()
            fence = match.group(1)
            current.append(line)
            continue
        if stripped.startswith("$$") and not (stripped.endswith("$$") and len(stripped) > 2):
            flush()
            math = True
            current.append(line)
            continue
        if not stripped:
            flush()
            continue
        current.append(line)
    flush(atomic=bool(fence or math))
    return blocks


def _split_long(text: str, atomic: bool, budget: int, count: TokenCounter) -> list[str]:
    """Cut one over-long block: code by lines, prose by sentences, then by words."""
    units = text.split("\n") if atomic else [s for s in _SENTENCE_END.split(text) if s.strip()]
    joiner = "\n" if atomic else " "
    pieces: list[str] = []
    current: list[str] = []
    used = 0
    for unit in units:
        n = count(unit) + 1
        if n > budget:
            words = unit.split(" ")
            step = max(1, len(words) * budget // (n * 2))
            sub = [" ".join(words[i : i + step]) for i in range(0, len(words), step)]
            for piece in sub:
                if current:
                    pieces.append(joiner.join(current))
                    current, used = [], 0
                pieces.append(piece)
            continue
        if used + n > budget and current:
            pieces.append(joiner.join(current))
            current, used = [], 0
        current.append(unit)
        used += n
    if current:
        pieces.append(joiner.join(current))
    return pieces


def _overlap_tail(text: str, overlap: int, count: TokenCounter) -> str:
    sentences = [s for s in _SENTENCE_END.split(text) if s.strip()]
    tail: list[str] = []
    used = 0
    for sentence in reversed(sentences):
        n = count(sentence)
        if used + n > overlap:
            break
        tail.insert(0, sentence)
        used += n
    return " ".join(tail)


def heading_prefix(title: str, path: list[str]) -> str:
    parts = [p for p in ([title] if title and (not path or path[0] != title) else []) + path if p]
    return " > ".join(parts)


def chunk_section(section: Section, title: str, max_tokens: int, overlap: int, count: TokenCounter) -> list[tuple[str, str, int]]:
    """(content, embed_text, tokens) for one section."""
    prefix = heading_prefix(title, section.heading_path)
    prefix_tokens = count(prefix) + 1 if prefix else 0
    budget = max(32, max_tokens - _SPECIAL_TOKENS - prefix_tokens)
    blocks: list[_Block] = []
    for text, atomic in split_blocks(section.text):
        tokens = count(text)
        if tokens > budget:
            blocks.extend(_Block(p, count(p), atomic) for p in _split_long(text, atomic, budget, count))
        else:
            blocks.append(_Block(text, tokens, atomic))
    out: list[tuple[str, str, int]] = []
    current: list[_Block] = []
    used = 0

    def emit() -> None:
        content = "\n\n".join(b.text for b in current)
        embed = f"{prefix}\n\n{content}" if prefix else content
        out.append((content, embed, used + prefix_tokens))

    for block in blocks:
        if current and used + block.tokens + 1 > budget:
            emit()
            last = current[-1]
            current, used = [], 0
            if overlap and not last.atomic:
                tail = _overlap_tail(last.text, overlap, count)
                tail_tokens = count(tail) if tail else 0
                if tail and tail_tokens + block.tokens + 1 <= budget and tail != last.text:
                    current, used = [_Block(tail, tail_tokens, False)], tail_tokens
        current.append(block)
        used += block.tokens + 1
    if current:
        emit()
    return out


def chunk_document(doc: ParsedDocument, max_tokens: int, overlap: int, count: TokenCounter) -> list[Chunk]:
    chunks: list[Chunk] = []
    for section in doc.sections:
        for content, embed_text, tokens in chunk_section(section, doc.title, max_tokens, overlap, count):
            chunks.append(
                Chunk(
                    position=len(chunks),
                    content=content,
                    embed_text=embed_text,
                    heading_path=list(section.heading_path),
                    anchor=section.anchor,
                    token_count=tokens,
                    page=section.page,
                )
            )
    return chunks
