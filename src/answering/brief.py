"""The brief: what the answer writer knows of a turn besides the passages found. It is read from the
question before the store is asked anything (`read_question`), then completed with what the book's own
words say about it (`brief_of`: how rare each of its words is, which of its names the book never uses)."""

from __future__ import annotations

from dataclasses import dataclass, replace

from src.answering.classify import Routed
from src.answering.coverage import Specific, specific_terms, unmentioned
from src.answering.highlight import Intent
from src.answering.question import Question
from src.kit.text import terms
from src.retrieval.service import WordFacts
from src.retrieval.vocabulary import COUNT_CAP

RARE_SHARE = 0.7  # a word weighing this share of the rarest possible is one few passages hold
# What one question may look up in the store (each word and phrase is a search): a question's first
# distinct words and names, and its first names of a few words. A word past these weighs as an average
# one, and a name past them counts as held by the book.
MAX_LOOKUP_WORDS = 128  # the longest quiz question in the shared sets has 71
MAX_LOOKUP_PHRASES = 16
MAX_PHRASE_WORDS = 8
SELECTION_IN_QUESTION = 400


@dataclass(frozen=True)
class Brief:
    """What the writer knows of the turn besides the passages found."""

    question: Question  # the standalone question
    selection: str | None = None
    selection_only: bool = False
    intent: Intent | None = None  # what a question about a selection asks when it names no topic ("explain this")
    weights: dict[str, float] | None = None  # the question's terms by rarity in the book
    missing: tuple[str, ...] = ()  # names in the question the book never mentions
    rare_weight: float = float("inf")  # a term weighing this much is rare in the book
    follow_up: bool = False  # the question was resolved against a conversation the book has been answering
    seen: tuple[str, ...] = ()  # what the conversation's latest answer quoted (a follow-up's student has read it)
    own_words: Question | None = None  # a follow-up's own words, before it was made standalone
    streamed: bool = False  # a stream may go on past the first sentence's deadline (ANSWER_STREAM_MAX_SECONDS)
    task_request: bool = False  # asks for a task: refused as off task when the book does not answer it
    overview: bool = False  # asks what the reader's chapter covers: its overview and objectives answer it


def model_question(brief: Brief) -> str:
    """What the model is asked (and what its sentences must bear on): the student's question, and for
    "explain this" about a selection, the passage it points at."""
    if brief.selection and brief.intent:
        return f'{brief.question.text} (the selected passage: "{brief.selection[:SELECTION_IN_QUESTION]}")'
    return brief.question.text


@dataclass(frozen=True)
class Reading:
    """What the brief reads of a question before it asks the store anything."""

    words: list[str]  # the question's content words, as written
    specifics: list[Specific]  # the names in it
    lookups: list[str]  # the words and names whose counts and weights are asked for
    phrases: list[str]  # the names of several words whose occurrence is asked for


def read_question(question: Question, selection_only: bool) -> Reading:
    """CPU work on the client's text, run in a worker thread: its words and names, and the bounded set of
    them to look up."""
    content = [w for w in question.words if terms(w)]
    specifics = [] if selection_only else specific_terms(question.text)
    names = [w for sp in specifics for w in sp.words]
    lookups = list(dict.fromkeys(content + names))[:MAX_LOOKUP_WORDS]
    several = (sp.text for sp in specifics if 1 < len(sp.words) <= MAX_PHRASE_WORDS)
    phrases = list(dict.fromkeys(several))[:MAX_LOOKUP_PHRASES]
    return Reading(content, specifics, lookups, phrases)


def plain_brief(routed: Routed, selection: str | None, selection_only: bool, streamed: bool) -> Brief:
    """The brief of a turn before the book's words are read (all of it, for "explain this" about a selection)."""
    return Brief(
        routed.question,
        selection,
        selection_only,
        routed.intent,
        follow_up=routed.follow_up,
        seen=routed.seen,
        own_words=routed.own_words,
        streamed=streamed,
        task_request=routed.task_request,
    )


def brief_of(plain: Brief, reading: Reading, facts: WordFacts) -> Brief:
    """The brief from what the store says of the question's words (CPU work too: a worker thread)."""
    weights = {terms(w)[0]: facts.weights[w] for w in reading.words if w in facts.weights}

    # A name spelt one letter off from a name the book holds is the student's typo, not a new name.
    def held(word: str) -> int:
        return COUNT_CAP if facts.variants.get(word) else facts.counts.get(word, COUNT_CAP)

    missing = unmentioned(reading.specifics, held, lambda p: facts.phrases.get(p, True))
    return replace(plain, weights=weights, missing=tuple(missing), rare_weight=RARE_SHARE * facts.max_weight)
