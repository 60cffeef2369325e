"""Definition questions ("what is X?", "define X", "what does X mean?") and the sentences that define
X in the book: "X is ...", "X refers to ...", "X is defined as ...", "Y, also known as X, ...",
"**X**: ...", glossary lines. A definition question's answer opens with the book's defining sentence."""

from __future__ import annotations

import re

from src.kit.text import squeezed, terms

_ASKS_DEFINITION = (
    re.compile(
        r"""
        ^\s*(?:so\s+|and\s+|ok\s+)?
        (?:what|who)\s*(?:is|are|was|were|'s|’s)\s+
        (?:an?\s+|the\s+)?
        (?P<subject>[^?]+?)
        (?:\s+exactly|\s+again)?\s*\??\s*$
        """,
        re.I | re.VERBOSE,
    ),
    re.compile(r"^\s*(?:please\s+)?(?:define|definition of)\s+(?:an?\s+|the\s+)?(?P<subject>[^?]+?)\s*\??\s*$", re.I),
    re.compile(r"^\s*what\s+(?:does|do)\s+(?:an?\s+|the\s+)?(?P<subject>[^?]+?)\s+(?:mean|stand for)\s*\??\s*$", re.I),
    re.compile(r"^\s*what\s+is\s+meant\s+by\s+(?:an?\s+|the\s+)?(?P<subject>[^?]+?)\s*\??\s*$", re.I),
    # "Can you explain X?", "Explain X to me.": a request for what X is, when X is a term (see _NOT_A_TERM).
    re.compile(
        r"^\s*(?:please\s+)?(?:(?:can|could|would)\s+you\s+(?:please\s+)?)?explain\s+(?:an?\s+|the\s+)?"
        r"(?P<subject>[^?]+?)(?:\s+to\s+me|\s+for\s+me|\s+please)?\s*[?.!]?\s*$",
        re.I,
    ),
)
# A subject that is a whole clause ("what is the difference between...", "explain how it works", "explain
# this"), not a term.
_NOT_A_TERM = re.compile(
    r"^(the\s+)?(difference|point|purpose|reason|role|best|way|use|goal|idea|problem|benefit|advantage)s?\b"
    r"|^(this|that|it|these|those|them|here|how|why|when|where|which|whether|what|who|if)\b",
    re.I,
)
_DEFINING_VERB = re.compile(
    r"\b(is|are|refers? to|means|is defined as|are defined as|is called|are called|describes?|denotes?|stands for)\b",
    re.I,
)
_ALSO_KNOWN = re.compile(r"\b(also known as|also called|known as|or simply|abbreviated|short for)\b", re.I)
# From the first space of a run only (`(?<!\s)`, possessive `\s++`): from every space of it, a subject
# of spaces would cost the square of its length.
# "X in Rust", "X in deep learning models": the field X is asked about in, up to three words, is not X.
_CONTEXT = re.compile(r"(?<!\s)\s++in\s++(?:the\s++)?[\w.+#-]++(?:\s++[\w.+#-]++){0,2}$", re.I)
_PURPOSE = re.compile(r"(?<!\s)\s++(?:used for|good for|used|for|about|all about)$", re.I)
MAX_SUBJECT_TERMS = 6
# A definition names its subject in a sentence's first words: what is read of a sentence for it, in
# characters too (one "word" of a pasted log can be thousands), and how far in a ":" or "(" may stand.
HEAD_CHARS = 400
MARK_CHARS = 200


def without_field(subject: str) -> str:
    """A subject without the field it is asked about in ("a monad in Haskell" -> "a monad")."""
    return _CONTEXT.sub("", subject)


def definition_subject(question: str) -> str | None:
    """The term a definition question asks about, or None when it is not one."""
    # One space between words: the patterns' `\s*` and `\s+` around the subject then never split a run.
    question = squeezed(question)
    for pattern in _ASKS_DEFINITION:
        match = pattern.match(question)
        if match:
            subject = _PURPOSE.sub("", without_field(match["subject"].strip(" .,'\"`")))
            if not subject or _NOT_A_TERM.match(subject) or not 1 <= len(terms(subject)) <= MAX_SUBJECT_TERMS:
                return None
            return subject
    return None


def defines(sentence: str, subject_terms: list[str]) -> bool:
    """Whether `sentence` defines the subject: the subject's words, then a defining verb or an
    apposition, near the start ("A digital twin is...", "ZMP: the point where...", "Physical AI,
    also known as embodied AI, refers to...")."""
    if not subject_terms:
        return False
    wanted = set(subject_terms)
    words = sentence.split()
    head = " ".join(words[: len(subject_terms) + 12])[:HEAD_CHARS]
    if _ALSO_KNOWN.search(head) and wanted <= set(terms(head)):
        return True
    # A verb further in has more words before it than the subject may bring (a verb is up to three words).
    near = " ".join(words[: len(subject_terms) + 7])[:HEAD_CHARS]
    for match in _DEFINING_VERB.finditer(near):
        before = head[: match.start()]
        if len(before.split()) <= len(subject_terms) + 4 and wanted <= set(terms(before)):
            return True
    # "ZMP: the point where...", "Zero Moment Point (ZMP) is...": the subject and nothing else before the mark.
    return any(set(terms(head[: m.start()])) == wanted for m in re.finditer(r":|\(|—| - ", head[:MARK_CHARS]))


_PARENTHESIS = re.compile(r"\([^()]*\)")  # from a "(" to the next parenthesis: a run of "(" is read once


def names_subject(heading: str, subject: list[str]) -> bool:
    """Whether a heading is about the subject itself ("What is a Digital Twin?", "Strategy 1: Domain
    Randomization", "RT-2 (Robotics Transformer 2)"), not merely mentions it ("Digital Twin vs Simulation")."""
    words = terms(_PARENTHESIS.sub(" ", heading))
    if not words or not set(subject) <= set(words):
        return False
    return len(set(words) - set(subject)) <= 1 or words[: len(subject)] == subject
