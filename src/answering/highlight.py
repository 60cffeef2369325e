"""Highlight and ask: what a student wants from a passage they selected, when the question names no
topic of its own ("explain this", "what does this mean?", "what does TERM mean here?", "summarize",
"tl;dr", "give me an example", "why?"), and the passage's own sentences that answer it."""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from typing import Literal

from src.kit.linear import LinearPattern
from src.kit.text import bounded, clean_sentence, sentences_of, terms

IntentKind = Literal["explain", "meaning", "summarize", "example", "why"]

_DEIXIS = r"(?:this|that|it|these|those|the (?:passage|text|sentence|paragraph|part|selection|quote|bit|above))"
# RE2: "what is X mean" and "define X here" read a term of any length between two phrases, which `re`
# would try from every "what is" to the end of the question.
_INTENTS: tuple[tuple[IntentKind, LinearPattern], ...] = (
    (
        "summarize",
        LinearPattern(
            r"\b(summari[sz]e|summary|tl;?\s?dr|sum (?:it|this|that) up|gist"
            r"|in (?:one|a|two) sentences?|short version|key points?|main (?:point|idea)s?)\b",
            ignore_case=True,
        ),
    ),
    (
        "example",
        LinearPattern(r"\b(examples?|for instance|illustrate|show me (?:how|what)|a case of)\b", ignore_case=True),
    ),
    (
        "meaning",
        LinearPattern(
            "|".join(
                (
                    r"\bwhat (?:does|do|did|is) (?P<term>.+?) (?:mean|means|refer to|stand for|meant)\b",
                    r"\bwhat is meant by (?P<term2>.+?)(?:\?|$| here| in)",
                    r"\bmeaning of (?P<term3>.+?)(?:\?|$| here| in)",
                    r"\bdefine (?P<term4>.+?)(?:\?|$| here| in)",
                )
            ),
            ignore_case=True,
        ),
    ),
    (
        "explain",
        LinearPattern(
            r"\b(explain|elaborate|clarify|break (?:it|this|that) down|unpack"
            r"|i (?:don'?t|do not|dont) (?:get|understand)|help me understand|eli5|like i'?m (?:5|five)"
            r"|(?:simpler|plain|simple|other|easier) (?:words|terms|english|language)"
            r"|what (?:is|'s) (?:this|that|it) (?:saying|about|talking about)"
            r"|rephrase|paraphrase|in english)\b",
            ignore_case=True,
        ),
    ),
    ("why", LinearPattern(r"^\s*(?:but |and |so )?(?:why|how come|how so)\b", ignore_case=True)),
)
# Words of asking for help with a passage: they say nothing about a topic.
_REQUEST_WORDS = frozenset(
    terms(
        "explain elaborate clarify break down unpack get understand help eli5 like simple simpler plain easy easier "
        "words terms english language rephrase paraphrase summarize summarise summary tldr tl dr sum gist one sentence "
        "sentences short version key point points main idea ideas example examples instance illustrate show case "
        "meaning meant refer stand define please pls plz someone anyone can could would you give me part passage text "
        "paragraph selection quote bit above here context saying talking say means mean come why how so real quick "
        "again dont don't i'm im five 5 little bit more detail details"
    )
)
# RE2: "if ... then" and "if ..., " read any length between the two, which `re` would retry from every "if".
_EXAMPLE_MARKER = LinearPattern(
    "|".join(
        (
            r"^\W*examples?\b",
            r"\b(e\.g\.|for example|for instance|such as|like a|like an|like the|consider|imagine|suppose|say you"
            r"|if (?:an?|you|the|your)\b.*\bthen\b)",
            r"\bif\b[^.]*,\s*(?:then\s+)?\w",
        )
    ),
    ignore_case=True,
)
_REASON_MARKER = re.compile(
    r"\b(because|since|so that|in order to|due to|the reason|therefore|thus|this means|which means"
    r"|enabl\w+|allow\w*|to avoid|prevent\w*)\b",
    re.I,
)
_SPLIT = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"'(\[`*])|(?<=[.!?][\"')\]])\s+")
MAX_CENTRAL = 4


@dataclass(frozen=True)
class Intent:
    kind: IntentKind
    term: str | None = None  # for "what does TERM mean here?"


def intent_of(question: str) -> Intent | None:
    """The request a question makes of a highlighted passage when it names no topic of its own; None
    for a question with a subject of its own ("why must the ZMP stay inside the polygon?")."""
    for kind, pattern in _INTENTS:
        match = pattern.search(question)
        if not match:
            continue
        term = None
        if kind == "meaning":
            term = next((g for g in match.groupdict().values() if g), None)
            term = term.strip(" '\"`“”‘’") if term else None
            if term and re.fullmatch(_DEIXIS, term, re.I):
                term = None
        term_words = set(terms(term)) if term else set()
        leftover = [t for t in terms(question) if t not in _REQUEST_WORDS and t not in term_words]
        if kind == "meaning" and term:
            return Intent("meaning", term) if len(terms(term)) <= 5 and len(leftover) <= 2 else None
        if not leftover:
            return Intent(kind)
    return None


def split_sentences(text: str) -> list[str]:
    """A selection's sentences as the reader sees them (a selection is prose the student chose, so
    every sentence counts, short ones too)."""
    flat = clean_sentence(text.replace("\n", " "))
    pieces = (piece for run in _SPLIT.split(flat) for piece in bounded(run.strip()))
    return [s for s in pieces if len(s) > 1 and re.search(r"[A-Za-z]{2}", s)]


def central(sentences: list[str], limit: int = MAX_CENTRAL) -> list[int]:
    """The indexes of the passage's central sentences, in order: all of a short passage; for a long one
    the sentences whose words recur most across it."""
    if len(sentences) <= limit:
        return list(range(len(sentences)))
    counts = Counter(t for s in sentences for t in set(terms(s)))
    scored = sorted(
        range(len(sentences)),
        key=lambda i: (
            -sum(counts[t] - 1 for t in set(terms(sentences[i]))) / (1 + len(set(terms(sentences[i])))) ** 0.5
        ),
    )
    return sorted(scored[:limit])


def answering_sentences(intent: Intent, sentences: list[str]) -> list[int]:
    """The sentences of the passage that answer the intent, in order; empty when the passage does not
    (an "example" request on a passage that gives none, a term it does not use)."""
    if intent.kind == "example":
        return [i for i, s in enumerate(sentences) if _EXAMPLE_MARKER.search(s)]
    if intent.kind == "meaning" and intent.term:
        wanted = set(terms(intent.term))
        about = [i for i, s in enumerate(sentences) if wanted & set(terms(s)) or intent.term.lower() in s.lower()]
        return sorted({j for i in about for j in (i, i + 1) if j < len(sentences)})[:MAX_CENTRAL] if about else []
    if intent.kind == "why":
        reasons = [i for i, s in enumerate(sentences) if _REASON_MARKER.search(s)]
        return reasons or central(sentences)
    return central(sentences)


def has_example(text: str) -> bool:
    return bool(_EXAMPLE_MARKER.search(text))


# "Examples:", "Example nodes:": one run of non-word characters between the words (`\W*:?\W*` was three
# that split a long run of punctuation every way before failing).
_EXAMPLES_LABEL = re.compile(r"^\W*(?:for )?examples?\W*(?:(?:nodes?|uses?|cases?)\W*)?$", re.I)
_LIST_LINE = re.compile(r"^\s*(?:[-*+]|\d+[.)])\s+(?P<item>.+)$")


def examples_in(content: str, limit: int = 4) -> list[str]:
    """The examples a passage gives: the items of a list under an "Examples:" label, or its sentences
    that give one ("e.g.", "for example", "such as")."""
    listed: list[str] = []
    lines = content.split("\n")
    for i, line in enumerate(lines):
        if _EXAMPLES_LABEL.match(clean_sentence(line)) and line.strip():
            for follow in lines[i + 1 :]:
                item = _LIST_LINE.match(follow)
                if item:
                    listed.append(clean_sentence(item["item"]))
                elif follow.strip():
                    break
            if listed:
                return listed[:limit]
    return [s for s in sentences_of(content) if has_example(s)][:limit]
