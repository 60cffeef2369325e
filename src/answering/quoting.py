"""The extractive answer: what is quoted for a turn. A question is answered part by part from the
passages the search found, as far as the book covers it; a question about a highlighted passage from
the passage's own sentences (and, in book mode, the book's explanation of it, or an example the
passage lacks). CPU work: the writer runs it in a worker thread, under a deadline."""

from __future__ import annotations

import re

from src.answering.brief import Brief
from src.answering.chapters import chapter_overview
from src.answering.citations import Composed, merge
from src.answering.deadline import NEVER, Deadline
from src.answering.extractive import compose, shared_share
from src.answering.guardrails import foreign_links
from src.answering.highlight import answering_sentences, central, examples_in, split_sentences
from src.answering.question import Question
from src.answering.search_agent import Found
from src.answering.selection import from_selection
from src.kit.metrics import stage
from src.kit.text import sentences_of, squeezed, terms
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
    if brief.overview and (outline := chapter_overview(found.hits)) is not None:
        return outline, []
    if brief.missing and not all(found_in(name, found.hits) for name in brief.missing):
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


def found_in(name: str, hits: list[Fused]) -> bool:
    """Whether a passage found holds the name the word counts missed (a heading that names "Ubuntu 22.04",
    say): the answer then never says the book does not mention what it is about to quote."""
    wanted = re.compile(rf"(?<!\w){re.escape(squeezed(name).casefold())}(?!\w)")  # a literal: linear
    return any(
        wanted.search(squeezed(" ".join(hit.passage.heading_path) + " " + hit.passage.content).casefold())
        for hit in hits
    )


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
    """ "Explain this", "summarize", "what does TERM mean here", "why", "give me an example". In
    `selection_only` mode, the passage's own sentences that do it (its central ones for "explain this").
    In book mode an explanation says what the passage does not: where the book says what TERM is, the
    book's sentences around the passage, its explanation of the passage's words; the passage's own
    sentences only for a summary (its central ones, shorter than it), a reason it gives, or when the
    book has nothing to add. An example the passage lacks comes from the book."""
    assert brief.selection is not None and brief.intent is not None
    sentences = split_sentences(brief.selection)
    chosen = answering_sentences(brief.intent, sentences)
    book = [h for h in found.hits if h.passage.kind == "book"]
    if not chosen:
        if brief.selection_only or brief.intent.kind != "example" or not book:
            return None
        return book_example(brief.selection, book, deadline)
    own = from_selection(brief.selection, [sentences[i] for i in chosen])
    if brief.selection_only or not book or deadline.passed() or brief.intent.kind in ("summarize", "example"):
        return own
    with stage("answer"):
        added = beyond_selection(brief, book, deadline)
    if added is None:
        return own
    if brief.intent.kind == "why":
        return merge([own, added])
    # The passage's gist in one sentence, then what the book adds: an explanation, not the passage again.
    gist = from_selection(
        brief.selection, [sentences[central(sentences, limit=1)[0] if brief.intent.kind == "explain" else chosen[0]]]
    )
    return merge([gist, added])


def beyond_selection(brief: Brief, book: list[Fused], deadline: Deadline) -> Composed | None:
    """What the book says that the highlighted passage does not: the book's definition of the term asked
    about, the sentences around the passage where the book holds it, and the book's other sentences on
    its words; none of them a sentence of the passage."""
    assert brief.selection is not None and brief.intent is not None
    selected = set(terms(brief.selection))  # once, not once per sentence of the book read
    inside = set(split_sentences(brief.selection))

    def new(sentence: str) -> bool:
        return sentence not in inside and shared_share(set(terms(sentence)), selected) < 0.6

    parts: list[Composed] = []
    if brief.intent.kind == "meaning" and brief.intent.term:
        question = Question.parse(f"What is {brief.intent.term}?")
        defined = compose(question, book, max_sentences=2, accept=new, deadline=deadline)
        if defined is not None:
            parts.append(defined)
    around = surrounding(brief.selection, book)
    if around is not None:
        parts.append(around)
    explained = compose(Question.parse(brief.selection), book, max_sentences=3, accept=new, deadline=deadline)
    if explained is not None:
        parts.append(explained)
    return merge(parts) if parts else None


def surrounding(selection: str, book: list[Fused]) -> Composed | None:
    """The book's sentence before and after the highlighted passage, where a passage found holds it."""
    mine = split_sentences(selection)
    if not mine:
        return None
    for rank, hit in enumerate(book):
        sentences = sentences_of(hit.passage.content)
        first = next((i for i, s in enumerate(sentences) if s[:60] == mine[0][:60]), None)
        if first is None:
            continue
        last = first + len(mine) - 1
        near = [
            sentences[i]
            for i in (first - 1, last + 1)
            if 0 <= i < len(sentences) and sentences[i] not in mine and not sentences[i].endswith(":")
        ]
        if near:
            answer = " ".join(f"{s if s.endswith(('.', '!', '?')) else s + '.'} [1]" for s in near)
            return Composed(answer, [Citation.of(1, hit.id, hit.passage, near)], [rank], 1.0)
    return None


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
