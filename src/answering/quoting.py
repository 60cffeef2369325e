"""The extractive answer: what is quoted for a turn. A question is answered part by part from the
passages the search found, as far as the book covers it; a question about a highlighted passage from
the passage's own sentences (and, in book mode, the book's explanation of it, or an example the
passage lacks). CPU work: the writer runs it in a worker thread, under a deadline."""

from __future__ import annotations

from src.answering.brief import Brief
from src.answering.citations import Composed, merge
from src.answering.deadline import NEVER, Deadline
from src.answering.extractive import compose, shared_share
from src.answering.guardrails import foreign_links
from src.answering.highlight import answering_sentences, examples_in, split_sentences
from src.answering.question import Question
from src.answering.search_agent import Found
from src.answering.selection import from_selection
from src.kit.metrics import stage
from src.kit.text import terms
from src.retrieval.fusion import Fused
from src.retrieval.passage import Citation

NO_EXAMPLE_BUT_BOOK = "The selected text gives no example; the book gives these:"
MIN_TOPICAL = 0.2  # a sentence must hold this share of the question's weight to be quoted at all...
TOPICAL_TERMS = 1.6  # ...or, for a long question, the weight of this many of its terms on average
SELECTION_COVERAGE = 0.2  # a question about a selection (selection only) must find this share of its weight in it
BORDERLINE_EVIDENCE = 0.10
STRONG_COVERAGE = 0.75
FOLLOW_UP_COVERAGE = 0.5


def topical(question: Question) -> float:
    """The share of a question's weight a sentence must hold to bear on it: a fifth, or less for a long
    question (a quiz's whole scenario), whose sentences each answer a part."""
    return min(MIN_TOPICAL, TOPICAL_TERMS / max(1, len(set(question.terms))))


def not_covered_parts(parts: list[str]) -> str:
    """The note on the parts of a compound question the book does not cover. The student's words are
    echoed only when short and free of links: a long or hostile message is not repeated back."""
    shown = [p for p in parts if len(p) <= 120 and not foreign_links(p, set())]
    if len(shown) < len(parts):
        return "The book does not seem to cover the rest of the question."
    return "The book does not seem to cover this part of the question: " + "; ".join(shown)


def extractive(
    found: Found, brief: Brief, threshold: float, deadline: Deadline = NEVER
) -> tuple[Composed | None, list[str]]:
    """The extractive answer over every part the book covers (evidence from `threshold`, or just under
    it for a part one sentence answers well), and the parts it does not cover. Past `deadline` it answers
    with what it has composed."""
    if brief.selection and brief.intent:
        return about_selection(found, brief, deadline), []
    if brief.selection_only and brief.selection:
        return from_selection_alone(found, brief, deadline), []
    if brief.missing:
        return None, [brief.question.text]
    answers: list[Composed] = []
    uncovered: list[str] = []
    for part in found.parts:
        if answers and deadline.passed():
            break  # the parts composed so far are the answer
        composed = None
        if part.evidence >= threshold - BORDERLINE_EVIDENCE:
            with stage("answer"):
                composed = compose(
                    part.query,
                    part.hits,
                    weights=brief.weights if len(found.parts) == 1 else None,
                    min_coverage=topical(part.query),
                    seen=brief.seen,
                    own_words=brief.own_words,
                    deadline=deadline,
                )
            # Just under the threshold, answer only when one sentence covers most of the question's terms
            # (half of them, in a conversation the book has been answering).
            strong = FOLLOW_UP_COVERAGE if brief.follow_up else STRONG_COVERAGE
            if composed is not None and part.evidence < threshold and composed.coverage < strong:
                composed = None
        if composed is None:
            uncovered.append(part.question)
        else:
            answers.append(composed)
    if not answers:
        return None, uncovered
    return (answers[0] if len(answers) == 1 else merge(answers)), uncovered


def from_selection_alone(found: Found, brief: Brief, deadline: Deadline) -> Composed | None:
    """A question of its own about a selection, answered from it alone: when the selection holds enough
    of the question's weight and none of its rare words is missing from it (a question naming
    something rare that the passage does not mention is about something else)."""
    assert brief.selection is not None
    held = set(terms(brief.selection))
    if any(w >= brief.rare_weight and t not in held for t, w in (brief.weights or {}).items()):
        return None
    with stage("answer"):
        composed = compose(brief.question, found.hits, weights=brief.weights, deadline=deadline)
    return composed if composed is not None and composed.coverage >= SELECTION_COVERAGE else None


def about_selection(found: Found, brief: Brief, deadline: Deadline) -> Composed | None:
    """ "Explain this", "summarize", "what does TERM mean here", "give me an example": the passage's
    own sentences that do it, cited to the selection; in book mode, then the book's explanation of
    the passage's terms (or, for an example the passage lacks, an example from the book)."""
    assert brief.selection is not None and brief.intent is not None
    sentences = split_sentences(brief.selection)
    chosen = answering_sentences(brief.intent, sentences)
    book = [h for h in found.hits if h.passage.kind == "book"]
    if not chosen:
        if brief.selection_only or brief.intent.kind != "example" or not book:
            return None
        return book_example(brief.selection, book, deadline)
    own = from_selection(brief.selection, [sentences[i] for i in chosen])
    if brief.selection_only or not book or deadline.passed():
        return own
    selected = set(terms(brief.selection))  # once, not once per sentence of the book read
    with stage("answer"):
        explained = compose(
            Question.parse(brief.selection),
            book,
            max_sentences=2,
            accept=lambda s: shared_share(set(terms(s)), selected) < 0.6,
            deadline=deadline,
        )
    return merge([own, explained]) if explained is not None else own


def book_example(selection: str, book: list[Fused], deadline: Deadline = NEVER) -> Composed | None:
    """An example from the book for a passage that gives none: from the passage that shares most words
    with the selection among those that give examples (among those read by `deadline`)."""
    wanted = set(terms(selection))
    best: tuple[float, int, list[str]] | None = None
    for rank, hit in enumerate(book):
        if best is not None and deadline.passed():
            break
        examples = examples_in(hit.passage.content)
        if examples:
            shared = len(wanted & set(terms(" ".join(examples) + " " + (hit.passage.section or "")))) - 0.01 * rank
            if best is None or shared > best[0]:
                best = (shared, rank, examples)
    if best is None or best[0] <= 0:
        return None
    _, rank, examples = best
    answer = (
        NO_EXAMPLE_BUT_BOOK + " " + " ".join(f"{e if e.endswith(('.', '!', '?')) else e + '.'} [1]" for e in examples)
    )
    return Composed(answer, [Citation.of(1, book[rank].id, book[rank].passage, examples)], [rank], 1.0)
