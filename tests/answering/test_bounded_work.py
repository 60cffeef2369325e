"""Hostile text costs work linear in its length, in every step that reads a question, a selection or a
passage: a reader without a key must not be able to hold a worker (and its event loop) with one
request. A run of an "opener" that a pattern starts on and never closes ("if " without a "then",
"[" without a "]", "repeat the " without "prompt") is fed to each step at two sizes, N and 4N.

Timing ratios only, robust on a loaded 2-core machine: the process's CPU time (time spent waiting for
a core does not count), the least of three runs at each size, a step judged only when 4N takes more
than MIN_JUDGED_SECONDS, and a ratio over MAX_RATIO measured once more before it fails. Linear work
quadruples (about 4); quadratic work grows sixteen-fold."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, example, given, settings
from hypothesis import strategies as st

from src.answering.brief import Brief, read_question
from src.answering.citations import Composed, merge, pieces
from src.answering.classify import Routed, classify
from src.answering.coverage import specific_terms
from src.answering.deadline import NEVER, Deadline
from src.answering.definitions import defines, definition_subject, names_subject
from src.answering.extractive import compose
from src.answering.followup import PastTurn, leans_on_context, resolve, topic_of
from src.answering.grounding import check_sentence, split_finished
from src.answering.guardrails import (
    foreign_links,
    is_creative_request,
    is_manipulation,
    is_off_task,
    is_planted_instruction,
    is_task_request,
    strip_foreign_links,
)
from src.answering.highlight import Intent, answering_sentences, examples_in, has_example, intent_of, split_sentences
from src.answering.planning import reformulate, split_compound
from src.answering.prompt import build_messages
from src.answering.question import Question
from src.answering.quoting import book_example, extractive, topical
from src.answering.refusals import not_mentioned
from src.answering.routes import Route
from src.answering.search_agent import Found, Part
from src.answering.selection import selection_hit
from src.answering.service import AnswerService
from src.answering.smalltalk import smalltalk_reply
from src.kit.text import clean_sentence, code_comments, marked_sentences, sentences_of, terms, words
from src.retrieval.fusion import Fused
from src.retrieval.passage import Passage
from src.retrieval.vocabulary import near_variants
from src.security.inputs import validate_question, validate_source_file

N = 5_000  # more than MAX_CENTRAL sentence pieces (1,000 characters each) at both sizes: one regime, N and 4N
MAX_RATIO = 10.0  # linear is about 4, quadratic about 16
MIN_JUDGED_SECONDS = 0.002  # below this, timer noise decides

# What the patterns open on and then look far for the end of.
OPENERS = [
    "if ",
    "<!--",
    "[",
    "(",
    "*",
    "`",
    "::",
    "repeat the ",
    "if a ",
    "[a](",
    "# A",
    "what is ",
    "translate ",
    "and for ",
    "\n",
    "  ",
    "a-",
    "_",
    " [1]",
]
WORDS = ["word ", "Zmp ", "robot, ", "the ", "it ", "then ", ". ", "? ", "e.g. ", "http://x.io/a "]
BOOK = (
    "The Zero Moment Point is the point where the net moment of the forces is zero. It keeps a walking robot balanced."
)
# A selection's intents read a passage of more than four sentences differently (its central ones): the
# hostile text follows five, so both sizes are read the same way.
FIVE = "A robot walks. Its feet push on the ground. The ground pushes back. Balance needs this. Sensors measure it."


THRESHOLD = 0.35  # EVIDENCE_THRESHOLD's default


def passage(content: str) -> Fused:
    return Fused(
        "c1",
        0.9,
        1,
        1,
        Passage(
            content=content, section="Balance", title="Robots", source_file="docs/a.md", url="https://book.example/a"
        ),
    )


def brief(
    question: str, selection: str | None = None, selection_only: bool = False, intent: Intent | None = None
) -> Brief:
    return Brief(Question.parse(question), selection, selection_only, intent)


def about_selection(kind: str, selection_only: bool) -> Callable[[str], object]:
    """The composer on a highlighted passage: what the intent asks of it, then the book's explanation."""

    def run(text: str) -> object:
        selection = FIVE + " " + text
        found = Found([selection_hit(selection), passage(BOOK + " " + text)], 1.0, [])
        return extractive(found, brief("explain this", selection, selection_only, Intent(kind)), THRESHOLD)

    return run


def from_book(question: str, content: str) -> object:
    hits = [passage(content), passage(BOOK)]
    return extractive(
        Found(hits, 0.9, [Part(question, hits, 0.9, Question.parse(question))]), brief(question), THRESHOLD
    )


def from_selection_alone(text: str) -> object:
    found = Found([selection_hit(text)], 1.0, [Part(text, [selection_hit(text)], 1.0, Question.parse(text))])
    return extractive(found, brief(text, text, True), THRESHOLD)


def routed(text: str, selection: str | None = None, history: list[PastTurn] | None = None) -> Routed:
    async def load() -> list[PastTurn]:
        return history or []

    return asyncio.run(classify(text, selection, False, load if history is not None else None))


def swallowing(step: Callable[[str], object]) -> Callable[[str], object]:
    """A check that refuses bad input by raising: the refusal is an outcome too."""

    def run(text: str) -> object:
        try:
            return step(text)
        except ValueError:
            return None

    return run


STEPS: dict[str, Callable[[str], object]] = {
    # Routing (classify), small talk, guardrails and follow-ups.
    "classify": lambda t: routed(t),
    "classify a selection": lambda t: routed(t, "a passage"),
    "classify a follow-up of it": lambda t: routed("why does it matter?", None, [PastTurn(t), PastTurn(t)]),
    "classify it after a question": lambda t: routed(t, None, [PastTurn("What is the Zero Moment Point?")]),
    "smalltalk": smalltalk_reply,
    "is_manipulation": is_manipulation,
    "is_off_task": is_off_task,
    "is_task_request": is_task_request,
    "is_creative_request": is_creative_request,
    "is_planted_instruction": is_planted_instruction,
    "foreign_links": lambda t: foreign_links(t, {"https://book.example/a"}),
    "strip_foreign_links": lambda t: strip_foreign_links(t, {"https://book.example/a"}),
    "resolve": lambda t: resolve(Question.parse(t), [PastTurn("What is the Zero Moment Point?")]),
    "resolve an ellipsis of it": lambda t: resolve(Question.parse("and for velocity commands?"), [PastTurn(t)]),
    "resolve a pronoun after it": lambda t: resolve(Question.parse("why does it matter?"), [PastTurn(t)]),
    "topic_of": topic_of,
    "leans_on_context": leans_on_context,
    "definition_subject": definition_subject,
    "definition_subject of what is": lambda t: definition_subject("what is " + t),
    "defines": lambda t: defines(t, ["zmp"]),
    "defines its own words": lambda t: defines(t, terms(t)[:6]),
    "split_compound": split_compound,
    "reformulate": lambda t: reformulate(Question.parse(t)),
    "Question.parse": Question.parse,
    # The brief: a selection's intent, the question's words and names.
    "intent_of": intent_of,
    "intent_of a term": lambda t: intent_of("what does " + t + " mean here?"),
    "read_question": lambda t: read_question(Question.parse(t), False),
    "specific_terms": specific_terms,
    "near_variants": near_variants,
    "topical": lambda t: topical(Question.parse(t)),
    "not_mentioned": lambda t: not_mentioned([t, t[:40]], [passage(t)]),
    "this chapter": lambda t: AnswerService._preference(
        Routed(Route.BOOK, Question.parse(t), Question.parse(t)), "docs/a.md"
    ),
    "validate_question": swallowing(validate_question),
    "validate_source_file": swallowing(validate_source_file),
    # The text toolkit.
    "terms": terms,
    "words": words,
    "clean_sentence": clean_sentence,
    "sentences_of": sentences_of,
    "marked_sentences": marked_sentences,
    "code_comments": lambda t: code_comments("```\n# A" + t + "\n// B" + t + "\n```"),
    "table rows": lambda t: sentences_of("| a | b |\n|---|---|\n| " + t + " | " + t + " |"),
    "split_sentences": split_sentences,
    "answering_sentences": lambda t: [
        answering_sentences(Intent(k), split_sentences(FIVE + " " + t))
        for k in ("example", "why", "summarize", "explain")
    ],
    "answering_sentences of a term": lambda t: answering_sentences(Intent("meaning", t[:200]), split_sentences(t)),
    "examples_in": examples_in,
    "examples_in a list": lambda t: examples_in("Examples:\n- " + t + "\n- " + t),
    "has_example": has_example,
    "names_subject": lambda t: names_subject(t, ["zmp"]),
    # The extractive composer.
    "compose from it": lambda t: compose(
        Question.parse("what is the zero moment point example"), [passage(t), passage(BOOK)]
    ),
    "compose for it": lambda t: compose(Question.parse(t), [passage(BOOK)]),
    "compose it for itself": lambda t: compose(Question.parse(t), [passage(t)]),
    "answer from it": lambda t: from_book("What is the Zero Moment Point?", t),
    "answer it": lambda t: from_book(t, BOOK),
    "answer from a selection alone": from_selection_alone,
    "explain a selection": about_selection("explain", False),
    "example from a selection": about_selection("example", True),
    "example from the book": lambda t: book_example(t, [passage(BOOK + " For example, a robot on a slope. " + t)]),
    "why in a selection": about_selection("why", False),
    "summarize a selection": about_selection("summarize", True),
    "meaning in a selection": lambda t: extractive(
        Found([selection_hit(t)], 1.0, []),
        brief("what does zmp mean here", t, True, Intent("meaning", "zmp")),
        THRESHOLD,
    ),
    "merge": lambda t: merge([Composed(t + " [1]", [], [0], 1.0), Composed(BOOK + " [1]", [], [1], 1.0)]),
    "pieces": pieces,
    # The grounding checker and the model's prompt.
    "check_sentence": lambda t: check_sentence(t + " [1]", {1: BOOK}, set(), "zero moment point"),
    "check_sentence against it": lambda t: check_sentence(
        "The Zero Moment Point keeps a walking robot balanced [1].", {1: t}, set(), "zmp"
    ),
    "split_finished": split_finished,
    "build_messages": lambda t: build_messages(t, [passage(t), passage(BOOK)], 700),
}


def fastest(step: Callable[[str], object], text: str, runs: int = 3) -> float:
    best = float("inf")
    for _ in range(runs):
        started = time.process_time()
        step(text)
        best = min(best, time.process_time() - started)
    return best


def repeated(unit: str, length: int) -> str:
    """`unit` repeated whole to about `length` characters: both sizes end alike, so a step takes the same
    path through them (a cut unit could end a phrase at one size and not at the other)."""
    return unit * max(1, length // len(unit))


def growth(step: Callable[[str], object], unit: str) -> tuple[float, float]:
    small, large = repeated(unit, N), unit * (4 * max(1, N // len(unit)))
    return fastest(step, small), fastest(step, large)


units = st.lists(st.sampled_from(OPENERS), min_size=1, max_size=2).flatmap(
    lambda openers: st.lists(st.sampled_from(WORDS), max_size=2).map(lambda words: "".join(openers + words))
)


@pytest.mark.parametrize("name", list(STEPS))
# No shrinking: a failing unit is reported as found (shrinking re-times every smaller candidate).
@settings(
    max_examples=4,
    deadline=None,
    derandomize=True,
    database=None,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=list(HealthCheck),
)
@example(unit="if a ")
@example(unit="repeat the ")
@example(unit="[")
@example(unit="(")
@example(unit="<!--")
@example(unit="*")
@example(unit="`")
@example(unit="::")
@example(unit="if ")
@given(unit=units)
def test_work_is_linear_in_hostile_text(name: str, unit: str) -> None:
    step = STEPS[name]
    small, large = growth(step, unit)
    if large > MIN_JUDGED_SECONDS and large / max(small, 1e-9) > MAX_RATIO:
        # A pause of the machine can land on one size: measured again before it counts.
        again_small, again_large = growth(step, unit)
        small, large = min(small, again_small), min(large, again_large)
    ratio = large / max(small, 1e-9)
    assert large <= MIN_JUDGED_SECONDS or ratio <= MAX_RATIO, (
        f"{name} on {unit!r} * n: {small * 1000:.2f} ms at {N}, {large * 1000:.2f} ms at {4 * N} ({ratio:.1f}x)"
    )


def test_every_step_answers_hostile_text() -> None:
    """The steps above run to completion on every opener at the largest size (no step raises on it)."""
    results: dict[str, Any] = {}
    for name, step in STEPS.items():
        for unit in OPENERS:
            results[name, unit] = step(repeated(unit, 4 * N))
    assert len(results) == len(STEPS) * len(OPENERS)


def test_past_its_deadline_the_composer_answers_with_what_it_has_read() -> None:
    """The composer runs in a worker thread, which cannot be cancelled: past its deadline it stops reading
    passages and answers from those it has (the first at least), or, for a compound question, with the
    parts composed so far."""
    balance = passage(BOOK)
    other = Fused(
        "c2",
        0.8,
        2,
        2,
        replace(balance.passage, content="The Zero Moment Point of a walking robot moves with each step it takes."),
    )
    question = Question.parse("What is the Zero Moment Point of a walking robot?")
    whole = compose(question, [balance, other], deadline=NEVER)
    assert whole is not None and whole.used_ranks == [0, 1]
    hurried = compose(question, [balance, other], deadline=Deadline(0.0))
    assert hurried is not None and hurried.used_ranks == [0] and "[1]" in hurried.answer
    first, second = (Question.parse(q) for q in ("What is the Zero Moment Point?", "What moves with each step?"))
    parts = [Part(first.text, [balance], 0.9, first), Part(second.text, [other], 0.9, second)]
    answered, uncovered = extractive(Found([balance, other], 0.9, parts), Brief(question), THRESHOLD, Deadline(0.0))
    assert answered is not None and answered.used_ranks == [0] and uncovered == []
