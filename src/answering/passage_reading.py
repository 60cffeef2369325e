"""The passages as the extractive composer reads them: the sentences it may quote, and what the passages'
headings say (a section that only points at a topic, a heading that names the question's subject)."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from src.answering.deadline import Deadline
from src.answering.definitions import names_subject
from src.answering.guardrails import is_planted_instruction
from src.kit.text import marked_sentences, terms
from src.retrieval.fusion import Fused

# Sections that point at a topic without explaining it.
NOT_AN_ANSWER_SECTION = re.compile(
    r"^(learning objectives?|objectives|exercises?\b.*|references|further reading"
    r"|prerequisites|resources|quiz|next steps)$",
    re.I,
)


@dataclass(frozen=True)
class PassagesRead:
    """The passages as read for one question: their candidate sentences (rank, order, text, terms), and
    what their headings say."""

    candidates: list[tuple[int, int, str, list[str]]]
    comments: set[tuple[int, int]]  # (rank, order) of the sentences read from a comment in code
    signposts: set[int]  # passages under objectives, exercises, reference lists
    headed: set[int]  # passages under a heading that names the question's subject
    first_of: dict[int, int]  # each passage's first sentence of prose

    def opens_heading(self, rank: int, order: int) -> bool:
        """The first sentence under a heading that names the subject (read as its definition)."""
        return rank in self.headed and order == self.first_of.get(rank)


def read_passages(
    hits: list[Fused], subject: list[str], accept: Callable[[str], bool] | None, deadline: Deadline
) -> PassagesRead | None:
    """The sentences of `hits` that may be quoted (the first passage at least, the rest until `deadline`)."""
    sections = [hit.passage.section or "" for hit in hits]
    candidates: list[tuple[int, int, str, list[str]]] = []
    # A comment in a passage's code ("# Store for next iteration") explains a line of code, not the topic:
    # it scores less, and is never the first line under a heading, which is read as the definition.
    comments: set[tuple[int, int]] = set()
    for rank, hit in enumerate(hits):
        if rank and deadline.passed():
            break
        for order, (sentence, from_code) in enumerate(marked_sentences(hit.passage.content)):
            # Text addressed to the assistant is never quoted, and a question answers nothing.
            if (
                not is_planted_instruction(sentence)
                and not sentence.rstrip().endswith("?")
                and (accept is None or accept(sentence))
            ):
                candidates.append((rank, order, sentence, terms(sentence)))
                if from_code:
                    comments.add((rank, order))
    if not candidates:
        return None
    first_of: dict[int, int] = {}
    for rank, order, *_ in candidates:
        if (rank, order) not in comments:
            first_of.setdefault(rank, order)
    signposts = {rank for rank, section in enumerate(sections) if NOT_AN_ANSWER_SECTION.match(section)}
    headed = {rank for rank, section in enumerate(sections) if subject and names_subject(section, subject)}
    return PassagesRead(candidates, comments, signposts, headed, first_of)
