"""A question, read once: its text, its content words (stemmed, as the book's are matched), its words as
written, and what it asks to be defined. It travels from `classify` to the search and the composer, so
no step tokenises the text again."""

from __future__ import annotations

from dataclasses import dataclass

from src.answering.definitions import definition_subject
from src.kit.text import terms, words


@dataclass(frozen=True)
class Question:
    text: str
    terms: tuple[str, ...]  # content words, lower-cased and stemmed, in order (`kit.text.terms`)
    words: tuple[str, ...]  # words as written (`kit.text.words`)
    subject: str | None  # the X of "what is X?" (`definitions.definition_subject`)

    @classmethod
    def parse(cls, text: str) -> Question:
        """CPU work on a client's text (linear in it): call it in a worker thread."""
        return cls(text, tuple(terms(text)), tuple(words(text)), definition_subject(text))
