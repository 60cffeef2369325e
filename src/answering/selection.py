"""A passage the student highlighted, as a context the answerer can quote and cite: the only one in
`selection_only` mode, the first one (before the book's) in `book` mode."""

from __future__ import annotations

from src.answering.extractive import Composed, citation_for
from src.answering.search_agent import Found, Part
from src.retrieval.fusion import Fused

SELECTION_ID = "selection"


def selection_hit(text: str) -> Fused:
    payload: dict[str, object] = {"content": text, "title": "Selected text", "section": "Selected text", "source_file": None, "url": None, "heading_path": []}
    return Fused(SELECTION_ID, 1.0, None, None, payload)


def selection_only(question: str, selection: str) -> Found:
    hit = selection_hit(selection)
    return Found([hit], 1.0, [Part(question, [hit], 1.0)])


def selection_first(found: Found, selection: str, evidence_floor: float) -> Found:
    """The book's passages with the selection in front; the selection counts as evidence enough."""
    hit = selection_hit(selection)
    evidence = max(found.evidence, evidence_floor)
    return Found([hit, *found.hits], evidence, [Part(p.question, [hit, *p.hits], evidence, p.query) for p in found.parts])


def from_selection(selection: str, quotes: list[str]) -> Composed:
    """An answer of the selection's own sentences, in order, each cited to the selection."""
    answer = " ".join(f"{q if q.endswith(('.', '!', '?')) else q + '.'} [1]" for q in quotes)
    return Composed(answer, [citation_for(1, selection_hit(selection), quotes)], [0], 1.0)
