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

from src.ingestion.document import DocumentCaps, ParsedDocument, Section

TokenCounter = Callable[[str], int]
_SPECIAL_TOKENS = 2  # [CLS] and [SEP]
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"'(\[])")
_FENCE = re.compile(r"^[ \t]{0,3}(`{3,}|~{3,})")
_MIN_BUDGET = 32  # tokens a piece keeps for text, whatever wraps it


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
            if stripped.count("$$") % 2 == 1:
                math = False
                flush(atomic=True)
            continue
        match = _FENCE.match(line)
        if match:
            flush()
            fence = match.group(1)
            current.append(line)
            continue
        if stripped.startswith("$$") and stripped.count("$$") % 2 == 1:  # a display formula opens here
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


def _split_long(
    text: str, atomic: bool, budget: int, count: TokenCounter, overlap: int = 0, fenced: bool = False
) -> list[str]:
    """Cut one over-long block: code by lines, prose by sentences (each piece starting with the
    previous piece's last sentences, up to `overlap` tokens), then by words."""
    lines = text.split("\n")
    # A fenced block too long for one chunk: every piece is fenced again, with the same language. Fences
    # nested in it are peeled in one loop (it recursed once per fence), and only while a piece keeps
    # _MIN_BUDGET tokens for its text: fence lines longer than that would be copied into every piece.
    fences = 0
    while (
        atomic
        and not fenced
        and len(lines) - 2 * fences > 2
        and _FENCE.match(lines[fences])
        and lines[-1 - fences].strip().startswith(lines[fences].strip()[:3])
    ):
        wrap = count(lines[fences]) + count(lines[-1 - fences]) + 2
        if budget - wrap < _MIN_BUDGET:
            break
        budget -= wrap
        fences += 1
    if fences:
        opening, closing = "\n".join(lines[:fences]), "\n".join(lines[len(lines) - fences :])
        inner = _split_long("\n".join(lines[fences : len(lines) - fences]), True, budget, count, 0, fenced=True)
        return [f"{opening}\n{piece}\n{closing}" for piece in inner]
    tabular = len(lines) > 1 and all(
        line.lstrip().startswith(("|", "-", "*", "+", ">")) or line.lstrip()[:1].isdigit()
        for line in lines
        if line.strip()
    )
    line_units = atomic or tabular
    units = lines if line_units else [s for s in _SENTENCE_END.split(text) if s.strip()]
    joiner = "\n" if line_units else " "
    pieces: list[str] = []
    current: list[tuple[str, int]] = []
    used = 0
    fresh = False  # whether `current` holds more than the overlap carried from the last piece

    def close() -> None:
        nonlocal current, used, fresh
        fresh = False
        pieces.append(joiner.join(u for u, _ in current))
        carried: list[tuple[str, int]] = []
        if overlap and not atomic:
            for unit, n in reversed(current):
                if sum(c for _, c in carried) + n > overlap:
                    break
                carried.insert(0, (unit, n))
        current, used = carried, sum(n for _, n in carried)

    for unit in units:
        n = count(unit) + 1
        if n > budget:
            if current and fresh:
                close()
            current, used, fresh = [], 0, False
            pieces.extend(_bisect(unit, budget, count))
            continue
        if used + n > budget and current:
            close()
            if used + n > budget:
                current, used = [], 0
        current.append((unit, n))
        used += n
        fresh = True
    if current and fresh:
        pieces.append(joiner.join(u for u, _ in current))
    return pieces


def _bisect(unit: str, budget: int, count: TokenCounter) -> list[str]:
    """A single sentence or line longer than a chunk: halves by words until each half fits."""
    if count(unit) + 1 <= budget:
        return [unit]
    words = unit.split()
    if len(words) < 2:  # one "word" past a chunk (a run of punctuation, a blob): halves by characters, until they fit
        half = len(unit) // 2
        return _bisect(unit[:half], budget, count) + _bisect(unit[half:], budget, count) if half else [unit]
    mid = len(words) // 2
    return _bisect(" ".join(words[:mid]), budget, count) + _bisect(" ".join(words[mid:]), budget, count)


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


def chunk_section(
    section: Section, title: str, max_tokens: int, overlap: int, count: TokenCounter
) -> list[tuple[str, str, int]]:
    """(content, embed_text, tokens) for one section."""
    prefix = heading_prefix(title, section.heading_path)
    prefix_tokens = count(prefix) + 1 if prefix else 0
    budget = max(32, max_tokens - _SPECIAL_TOKENS - prefix_tokens)
    blocks: list[_Block] = []
    for text, atomic in split_blocks(section.text):
        tokens = count(text)
        if tokens > budget:
            blocks.extend(_Block(p, count(p), atomic) for p in _split_long(text, atomic, budget, count, overlap))
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


def chunk_document(
    doc: ParsedDocument, max_tokens: int, overlap: int, count: TokenCounter, caps: DocumentCaps | None = None
) -> list[Chunk]:
    """Raises DocumentTooLarge as soon as the chunks pass `caps.chunks` (the rest is not counted)."""
    chunks: list[Chunk] = []
    for section in doc.sections:
        if caps is not None:
            caps.check_chunks(len(chunks))
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
    if caps is not None:
        caps.check_chunks(len(chunks))
    return chunks
