"""A passage the student highlighted, as a context the answerer can quote and cite: the only one in
`selection_only` mode, the first one (before the book's) in `book` mode."""

from __future__ import annotations

from src.answering.citations import Composed
from src.answering.question import Question
from src.answering.search_agent import Found, Part
from src.retrieval.fusion import Fused
from src.retrieval.passage import SELECTION_ID, Citation, Passage


def selection_hit(text: str) -> Fused:
    return Fused(SELECTION_ID, 1.0, None, None, Passage.selection(text))


def selection_only(question: Question, selection: str) -> Found:
    hit = selection_hit(selection)
    return Found([hit], 1.0, [Part(question.text, [hit], 1.0, question)])


def selection_first(found: Found, selection: str, evidence_floor: float) -> Found:
    """The book's passages with the selection in front; the selection counts as evidence enough."""
    hit = selection_hit(selection)
    evidence = max(found.evidence, evidence_floor)
    parts = [Part(p.question, [hit, *p.hits], evidence, p.query) for p in found.parts]
    return Found([hit, *found.hits], evidence, parts)


def from_selection(selection: str, quotes: list[str]) -> Composed:
    """An answer of the selection's own sentences, in order, each cited to the selection."""
    # A lead-in whose list or code the selection does not hold leads nowhere: left out, unless it is all.
    quotes = [q for q in quotes if not q.rstrip().endswith(":")] or quotes
    answer = " ".join(f"{q if q.endswith(('.', '!', '?', ':')) else q + '.'} [1]" for q in quotes)
    hit = selection_hit(selection)
    return Composed(answer, [Citation.of(1, hit.id, hit.passage, quotes)], [0], 1.0)
