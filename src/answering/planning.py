"""The retrieval agent's planning: a compound question becomes its parts, each searched on its own,
and a search whose evidence is weak is tried again with a reformulated (keywords only) query."""

from __future__ import annotations

import re

from src.answering.followup import leans_on_context, standalone
from src.answering.question import Question
from src.kit.text import STOPWORDS, terms

_QUESTION_WORD = r"(?:what|how|why|when|where|which|who|whom|whose|is|are|does|do|did|can|could|should|would|will)"
# A run of spaces is read from its first one only (`(?<!\s)`, possessive `\s++`): from every space of
# it, a question of spaces cost the square of its length.
_SPLIT = re.compile(rf"\?\s++(?=\S)|(?:[,;]|(?<!\s))\s++(?:and|also|plus|as well as)\s++(?={_QUESTION_WORD}\b)", re.I)
MIN_PART_TERMS = 1
# Words of spoken, loose phrasing that say nothing about the topic.
FILLER = frozenset(
    """
    hey hi hello um uh erm so ok okay well exactly really actually basically just kind sort thing things
    stuff people talk talking talked say saying said mean meant know wondering wonder curious please
    quick question anyone somebody
    """.split()
)
MAX_PARTS = 3
_DROPPED = STOPWORDS | FILLER  # once: built per word, the union cost a question's length times its size


def split_compound(question: str) -> list[str]:
    """The separate questions in `question` (just `[question]` when it asks one thing)."""
    parts = [p.strip(" ,;") for p in _SPLIT.split(question) if p and p.strip(" ,;?")]
    parts = [p if p.endswith("?") else p + "?" for p in parts]
    if len(parts) < 2 or any(len(terms(p)) < MIN_PART_TERMS for p in parts):
        return [question]
    # "What is ZMP and how does it keep a robot balanced?": the second part's "it" is the first's subject.
    return [parts[0], *(standalone(p, [parts[0]]) if leans_on_context(p) else p for p in parts[1:MAX_PARTS])]


def reformulate(question: Question) -> str | None:
    """A keywords-only form of the question, or None when it would not differ."""
    query = " ".join(w for w in question.words if w.lower() not in _DROPPED and len(w) > 1)
    return query if query and query.lower() != question.text.lower().rstrip("?. ") else None
