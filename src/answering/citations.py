"""The citation mark `[n]` and what is done with it: an answer cut at its marks, the numbers a text
cites, marks renumbered, and several cited answers merged into one."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from src.answering.showing import AnswerBlock
from src.retrieval.passage import Citation

MARK = re.compile(r"\[(\d+)\]")
# What a model writes for two passages at once as well: "[1, 3]", "[1,3]", "[1; 3]".
_MARKS = re.compile(r"\[(\d+(?:\s*[,;]\s*\d+)*)\]")
_PIECE = re.compile(r"[^\[]*?\[\d+\]\s*|.+$", re.S)  # up to a mark and the spaces after it, or the rest
_CITED_SENTENCE = re.compile(r"[^\[]*?\[\d+\]|.+$", re.S)


@dataclass(frozen=True)
class Composed:
    """An answer of sentences quoted from the passages, each followed by its citation's mark."""

    answer: str
    citations: list[Citation]
    used_ranks: list[int]  # the passages quoted, by their rank in the search's results
    coverage: float  # share of the question's terms (IDF-weighted) in the best sentence
    blocks: list[AnswerBlock] = field(default_factory=list)  # the book's blocks the answer shows, in order


def marks(text: str) -> list[int]:
    """The citation numbers in `text`, in order (repeats kept); "[1, 3]" cites 1 and 3."""
    return [int(n) for group in _MARKS.findall(text) for n in re.split(r"\s*[,;]\s*", group)]


def unmarked(text: str) -> str:
    return _MARKS.sub("", text)


def pieces(answer: str) -> list[str]:
    """The answer cut after each citation mark (with the spaces that follow it): an answer that is
    already whole, streamed as the deltas a written one would be."""
    return [p for p in _PIECE.findall(answer) if p]


def renumber(answer: str, numbers: dict[int, int]) -> str:
    """`answer` with each mark [n] as [numbers[n]] (marks not in `numbers` kept)."""

    def one(match: re.Match[str]) -> str:
        n = int(match.group(1))
        return f"[{numbers.get(n, n)}]"

    return MARK.sub(one, answer)


def merge(answers: list[Composed]) -> Composed:
    """Several composed answers as one (a compound question's parts), citations renumbered so that a
    passage cited by two parts keeps one number."""
    by_chunk: dict[str, Citation] = {}
    # Segments in order, each once: runs of sentences (a sentence both parts chose is said once; a
    # selection's answer may quote hundreds of them) and blocks, which are never cut or renumbered inside.
    segments: list[dict[str, None] | AnswerBlock] = [{}]
    said: set[str] = set()  # every sentence said so far, in any run
    for composed in answers:
        numbers: dict[int, int] = {}
        for citation in composed.citations:
            merged = by_chunk.get(citation.chunk_id)
            if merged is None:
                merged = by_chunk[citation.chunk_id] = citation.model_copy(update={"id": len(by_chunk) + 1})
            elif citation.quote not in merged.quote:
                merged.quote = f"{merged.quote} {citation.quote}"
            numbers[citation.id] = merged.id
        for segment in segments_of(composed):
            if isinstance(segment, AnswerBlock):
                block = segment.model_copy(update={"citation": numbers.get(segment.citation, segment.citation)})
                if not any(isinstance(s, AnswerBlock) and s.markdown == block.markdown for s in segments):
                    segments += [block, {}]
                continue
            prose = segments[-1]
            assert isinstance(prose, dict)
            for piece in _CITED_SENTENCE.findall(renumber(segment, numbers)):
                if piece.strip() not in said:
                    said.add(piece.strip())
                    prose[piece.strip()] = None
    blocks = [s for s in segments if isinstance(s, AnswerBlock)]
    text = "\n\n".join(s.markdown if isinstance(s, AnswerBlock) else " ".join(s) for s in segments if s)
    return Composed(
        text,
        sorted(by_chunk.values(), key=lambda c: c.id),
        sorted({r for c in answers for r in c.used_ranks}),
        min(c.coverage for c in answers),
        blocks,
    )


def segments_of(composed: Composed) -> list[str | AnswerBlock]:
    """An answer's segments: its prose runs (text) and its blocks, in order (each block's Markdown found
    after the one before it: code may hold blank lines of its own)."""
    out: list[str | AnswerBlock] = []
    answer, at = composed.answer, 0
    for block in composed.blocks:
        found = answer.find(block.markdown, at)
        if found < 0:
            continue
        if prose := answer[at:found].strip("\n"):
            out.append(prose)
        out.append(block)
        at = found + len(block.markdown)
    if rest := answer[at:].strip("\n"):
        out.append(rest)
    return out
