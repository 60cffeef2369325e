"""Refusals: why an answer is one (`Refusal`, on the wire for clients to say in their own words and
language), and the English text `answer` carries for API users, made from it by `refusal_text` alone."""

from __future__ import annotations

import re

from src.answering.guardrails import OFF_TOPIC, REDIRECT, foreign_links
from src.answering.schemas import Closest, Refusal
from src.retrieval.fusion import Fused

NOT_COVERED = "The textbook does not seem to cover this question, so I can't answer it from the book."
NOT_IN_SELECTION = "The selected text does not answer this question. Ask without restricting to the selection to search the whole book."
NO_EXAMPLE_IN_SELECTION = "The selected text gives no example. Ask without restricting to the selection, and I'll look for one in the whole book."
CLOSEST_SECTIONS = 3  # sections a refusal points to
MAX_NAMES_ECHOED = 3  # a message naming more things the book lacks is a paste or an attack, not a question
# "alice-1a2b3c4d5e", a hash, a token. Read from a run's first character only: from each one, the
# lookaheads would read the rest of a long run.
_ID_LIKE = re.compile(r"(?<![\w-])(?=[\w-]*\d)(?=[\w-]*[a-z])[\w-]{8,}", re.I)

OFF_TASK = Refusal(reason="off_task")


def _label(closest: Closest) -> str:
    """A closest section as the English text names it: "Title > Section (url)"."""
    title, section = closest.title or "", closest.section
    label = f"{title} > {section}" if section and section != title else title
    return f"{label} ({closest.url})" if closest.url else label


def closest_sections(hits: list[Fused]) -> list[Closest]:
    """The sections of the passages found, best first: up to CLOSEST_SECTIONS of them, each once however
    many of its passages were found."""
    closest: list[Closest] = []
    named: set[str] = set()
    for hit in hits:
        p = hit.passage
        candidate = Closest(title=p.title or p.source_file, section=p.section, url=p.url or None)
        label = _label(candidate)
        if label and label not in named:
            named.add(label)
            closest.append(candidate)
        if len(closest) == CLOSEST_SECTIONS:
            break
    return closest


def not_covered(hits: list[Fused]) -> Refusal:
    """The book does not cover the question: the closest sections (with their links) say where to look."""
    return Refusal(reason="not_covered", closest=closest_sections(hits))


def not_mentioned(names: list[str], hits: list[Fused]) -> Refusal:
    """A question about something the book never names ("the Unitree G1"). A name is echoed only when
    short, free of links, and not an identifier or code, and only when there are at most MAX_NAMES_ECHOED
    of them (a student's words are not repeated into an answer that may be cached and shown to others,
    and a pasted jailbreak's hundred capitalised phrases are not read back to it): otherwise the refusal
    says only that the book does not cover the question."""
    distinct: dict[str, str] = {}  # the first spelling of each name, in the question's order
    for name in names:
        distinct.setdefault(name.strip().casefold(), name.strip())
    distinct.pop("", None)
    shown = [n for n in distinct.values() if len(n) <= 60 and not foreign_links(n, set()) and not _ID_LIKE.search(n)]
    if not shown or len(distinct) > MAX_NAMES_ECHOED:
        return not_covered(hits)
    return Refusal(reason="not_mentioned", names=shown, closest=closest_sections(hits))


def refusal_text(refusal: Refusal, *, redirect: bool = False) -> str:
    """The refusal in English, as `answer` says it. `redirect`: the turn tried to reach the instructions
    or switch the rules off, and is told they stay private (a client sees the same `off_task`)."""
    match refusal.reason:
        case "off_task":
            return REDIRECT if redirect else OFF_TOPIC
        case "not_in_selection":
            return NOT_IN_SELECTION
        case "no_example":
            return NO_EXAMPLE_IN_SELECTION
        case "not_mentioned":
            names = refusal.names
            listed = names[0] if len(names) == 1 else ", ".join(names[:-1]) + " or " + names[-1]
            lead = f"The textbook doesn't mention {listed}, so I can't answer this from the book."
        case "not_covered":
            lead = NOT_COVERED
    if not refusal.closest:
        return lead
    return lead + " The closest sections are: " + "; ".join(_label(c) for c in refusal.closest) + "."
