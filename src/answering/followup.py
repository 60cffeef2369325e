"""Follow-up questions resolved against the conversation. "Why does it matter for walking?" after
"What is the Zero Moment Point?" becomes "Why does the Zero Moment Point matter for walking?", and
"and for velocity commands?" after "Which QoS should I use for lidar scans?" becomes "Which QoS
should I use for velocity commands?". The rewrite is what is searched, returned and recorded; the
sections the earlier answers cited are preferred by the search. Only questions that lean on the
conversation are rewritten, so a student who changes topic is not held to the old one."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from src.answering.definitions import definition_subject, without_field
from src.answering.question import Question
from src.kit.text import squeezed, terms, words
from src.retrieval.passage import Citation

_LEANS_ON_CONTEXT = re.compile(
    "|".join(
        (
            r"\b(it|its|it's|itself|this|that|these|those|they|them|their|theirs|he|she|his|her|one|ones"
            r"|the same|same thing|the former|the latter|above|previous|earlier|instead|then|there|such)\b",
            r"^\s*(and|but|also|so|then|what about|how about|why|how so|more|example|examples|ok|okay|what if)\b",
            # "the fusion bit", "the retrieval part", "the type thing": a part of what was just discussed.
            r"\bthe [\w-]+ (part|bit|piece|step|thing|stuff|one)\b",
        )
    ),
    re.I,
)
_PRONOUN = re.compile(r"\b(it|this|that|they|them)\b(?!\s*(?:is|was)\s+(?:a|an|the)\b)", re.I)
_POSSESSIVE = re.compile(r"\b(its|their)\b", re.I)
_ELLIPSIS = re.compile(
    r"^\s*(?:and|but|what about|how about|and what about|ok and)\s+"
    r"(?P<prep>for|with|in|on|about|to|from|during|when)?\s*(?P<rest>[^?]+?)\s*\??\s*$",
    re.I,
)
_PREPOSITION_PHRASE = (
    r"\b{prep}\s+(?:an?\s+|the\s+)?[\w\s'/-]+?(?=\s+(?:in|on|for|with|to|from|at|by|when|during)\b|[?.!,]|$)"
)
_CARRIED = re.compile(r"\([^()]*\)\s*$")
MAX_CONTENT_TERMS = 4
MAX_CARRIED = 8
MAX_TOPIC_TERMS = 6


@dataclass(frozen=True)
class PastTurn:
    """An earlier turn of the conversation: its question as it was resolved, and the files its answer cited."""

    question: str
    sources: tuple[str, ...] = ()
    sections: tuple[tuple[str, str], ...] = ()  # (source file, section) of each citation
    quotes: tuple[str, ...] = ()  # what its answer quoted from the book, citation by citation

    @classmethod
    def cited(cls, question: str, citations: list[Citation]) -> PastTurn:
        """A turn with what its answer cited: the files, the sections and the quotes."""
        files = tuple(dict.fromkeys(c.source_file for c in citations if c.source_file))
        sections = tuple(dict.fromkeys((c.source_file, c.section or "") for c in citations if c.source_file))
        return cls(question, files, sections, tuple(c.quote for c in citations if c.quote))


@dataclass(frozen=True)
class Resolved:
    question: str  # the standalone question: what is searched, returned and recorded
    follow_up: bool
    prefer: tuple[str, ...] = field(default_factory=tuple)  # source files the conversation is in
    sections: tuple[tuple[str, str], ...] = field(default_factory=tuple)  # the sections the latest answer cited
    seen: tuple[str, ...] = field(default_factory=tuple)  # what the latest answer quoted: the student has read it


def leans_on_context(question: str) -> bool:
    return bool(_LEANS_ON_CONTEXT.search(question))


def is_follow_up(question: Question) -> bool:
    return leans_on_context(question.text) or len(question.terms) <= 2


_TOPIC = re.compile(
    r"""
    ^\s*(?:so\s+|and\s+)?
    (?:
        what\s+(?:does|do)\s+(?P<a>.+?)\s+do\b
      | how\s+(?:does|do|is|are)\s+(?P<b>.+?)\s+(?:work|works|used)\b
      | what\s+(?:is|are)\s+(?P<c>.+?)\s+(?:used\s+)?for\b
    )
    """,
    re.I | re.VERBOSE,
)


def topic_of(question: str) -> str | None:
    """What a question is about, when it says so plainly: the X of "what is X?", "what does X do?",
    "how does X work?", "what is X for?"."""
    subject = definition_subject(question)
    if subject:
        return subject
    match = _TOPIC.match(squeezed(question))  # one space between words: `\s+` after a lazy topic never splits a run
    topic = next((g for g in match.groups() if g), None) if match else None
    if not topic:
        return None
    topic = without_field(topic.strip())
    return topic if len(terms(topic)) <= MAX_TOPIC_TERMS else None


def _substitute(question: str, topic: str) -> str | None:
    """The follow-up with its first pronoun replaced by the topic ("why does it matter" -> "why does the
    ZMP matter"); None when it has no pronoun to replace."""
    # The topic is the student's words: a function, so a backslash in them is text, not a group reference.
    if _POSSESSIVE.search(question):
        return _POSSESSIVE.sub(lambda _: f"{topic}'s", question, count=1)
    if _PRONOUN.search(question):
        return _PRONOUN.sub(lambda _: topic, question, count=1)
    return None


def _fill_ellipsis(question: str, previous: str) -> str | None:
    """ "and for velocity commands?" after "What QoS should I use for lidar scans in ROS 2?" ->
    "What QoS should I use for velocity commands in ROS 2?"."""
    # One space between words in both: the patterns' `\s+` beside a lazy phrase then never split a run.
    match = _ELLIPSIS.match(squeezed(question))
    if not match or _PRONOUN.search(match["rest"]):
        return None
    prep, rest = match["prep"], match["rest"].strip()
    if prep:
        previous = squeezed(previous)
        phrase = re.search(_PREPOSITION_PHRASE.format(prep=re.escape(prep)), previous, re.I)
        if phrase:
            return previous[: phrase.start()] + f"{prep} {rest}" + previous[phrase.end() :]
    return None


def _own_words(question: str) -> str:
    """A resolved question without the words it carried over (its parenthesis)."""
    # Found from its "(" (not from every space before it), then the spaces before it are dropped.
    carried = _CARRIED.search(question)
    return question[: carried.start()].rstrip() if carried else question


def _carried(question: Question, sources: list[str]) -> list[str]:
    """Words of `sources` (the latest turn first, then the conversation's topic) the question lacks."""
    own = set(question.terms)
    carried: list[str] = []
    for source in sources:
        for word in words(source):
            if len(carried) == MAX_CARRIED:  # a long earlier question is read only as far as it gives words
                return carried
            stemmed = terms(word)
            if stemmed and stemmed[0] not in own and word.lower() not in {c.lower() for c in carried}:
                carried.append(word)
    return carried


def resolve(asked: Question, history: list[PastTurn]) -> Resolved:
    """The question made standalone against the conversation (oldest turn first)."""
    question = asked.text
    if not history or not is_follow_up(asked) or len(asked.terms) > MAX_CONTENT_TERMS + 3:
        return Resolved(question, False)
    previous = _own_words(history[-1].question)
    prefer = tuple(dict.fromkeys(s for turn in reversed(history[-2:]) for s in turn.sources))
    topic = next((t for t in (topic_of(_own_words(turn.question)) for turn in reversed(history)) if t), None)
    rewritten = _fill_ellipsis(question, previous) or (_substitute(question, topic) if topic else None)
    if rewritten is None:
        first = _own_words(history[0].question)
        carried = _carried(asked, [previous, topic or first])
        rewritten = f"{question.rstrip()} ({' '.join(carried)})" if carried else question
    elif topic and not set(terms(topic)) <= set(terms(rewritten)):
        rewritten = f"{rewritten.rstrip()} ({topic})"
    return Resolved(rewritten, True, prefer, history[-1].sections, history[-1].quotes)


def standalone(question: str, previous_questions: list[str]) -> str:
    """`question` with what it leans on from the latest earlier question (used within one compound question)."""
    return resolve(Question.parse(question), [PastTurn(q) for q in previous_questions]).question
