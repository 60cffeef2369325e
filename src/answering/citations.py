"""The citation mark `[n]` and what is done with it: an answer cut at its marks, the numbers a text
cites, marks renumbered, and several cited answers merged into one."""

from __future__ import annotations

import re
from dataclasses import dataclass

from src.retrieval.passage import Citation

MARK = re.compile(r"\[(\d+)\]")
_PIECE = re.compile(r"[^\[]*?\[\d+\]\s*|.+$", re.S)  # up to a mark and the spaces after it, or the rest
_CITED_SENTENCE = re.compile(r"[^\[]*?\[\d+\]|.+$", re.S)


@dataclass(frozen=True)
class Composed:
    """An answer of sentences quoted from the passages, each followed by its citation's mark."""

    answer: str
    citations: list[Citation]
    used_ranks: list[int]  # the passages quoted, by their rank in the search's results
    coverage: float  # share of the question's terms (IDF-weighted) in the best sentence


def marks(text: str) -> list[int]:
    """The citation numbers in `text`, in order (repeats kept)."""
    return [int(n) for n in MARK.findall(text)]


def unmarked(text: str) -> str:
    return MARK.sub("", text)


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
    texts: dict[str, None] = {}  # in order, each once (a selection's answer may quote hundreds of its sentences)
    for composed in answers:
        numbers: dict[int, int] = {}
        for citation in composed.citations:
            merged = by_chunk.get(citation.chunk_id)
            if merged is None:
                merged = by_chunk[citation.chunk_id] = citation.model_copy(update={"id": len(by_chunk) + 1})
            elif citation.quote not in merged.quote:
                merged.quote = f"{merged.quote} {citation.quote}"
            numbers[citation.id] = merged.id
        # A sentence both parts chose is said once.
        texts.update((piece.strip(), None) for piece in _CITED_SENTENCE.findall(renumber(composed.answer, numbers)))
    return Composed(
        " ".join(texts),
        sorted(by_chunk.values(), key=lambda c: c.id),
        sorted({r for c in answers for r in c.used_ranks}),
        min(c.coverage for c in answers),
    )
