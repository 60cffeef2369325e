"""The index's outline: every chunk's file, heading path, position and passage format (no text), read
from the store once per index version, so a re-index is seen at the next question. Synchronous (the
store is); callers run it in a worker thread. From it:

- the sections whose heading names exactly what a question asks about ("Topics (Publish-Subscribe)"
  for "what are topics?", "6 Source the overlay" for "how do I source the overlay?"). A search ranks
  passages by their words, and a chapter that mentions X on every line can outrank the short section
  the book titles X; the heading is the book's own answer to where X is;
- how many chunks were stored in an older passage format (`PASSAGE_FORMAT`), which the health report
  shows so an operator knows to re-index."""

from __future__ import annotations

import re
import threading
from collections.abc import Sequence
from dataclasses import dataclass

from src.kit.text import terms
from src.retrieval.passage import PASSAGE_FORMAT, Passage
from src.retrieval.store.base import SearchFilter, VectorStore

FIELDS = ["source_file", "section", "heading_path", "position", "format"]
MAX_NAMED = 30  # a heading more sections share than this ("Overview") names nothing in particular

# The parts of a heading that name its subject on their own: before a parenthesis ("Topics (Publish-Subscribe)"),
# after a label's colon ("Strategy 1: Domain Randomization"), and before it ("Nodes: the building blocks").
_ASIDE = re.compile(r"\s*[(\[].*$")
_LABEL = re.compile(r"^[^:]{1,60}:\s+(?=\S)")
_TAIL = re.compile(r":\s.*$")


@dataclass(frozen=True)
class _Index:
    version: str
    by_words: dict[frozenset[str], tuple[str, ...]]  # a heading's words -> the first chunk of each such section
    rest: dict[str, tuple[str, ...]]  # a section's first chunk -> its other chunks, in the book's order
    chunks: int
    older: int  # chunks stored in a passage format before PASSAGE_FORMAT


def words_key(words: Sequence[str]) -> frozenset[str]:
    """Words as a lookup key: a hyphenated word by its parts alone ("cross-entropy" as "cross entropy")."""
    return frozenset(w for w in words if "-" not in w)


def heading_keys(heading: str) -> set[frozenset[str]]:
    """The word sets a heading answers to: all its words, and each part that names its subject alone."""
    parts = {heading, _ASIDE.sub("", heading), _LABEL.sub("", heading), _TAIL.sub("", heading)}
    return {key for key in (words_key(terms(part)) for part in parts) if key}


def titles(heading: str | None, wanted: Sequence[str]) -> bool:
    """Whether a heading (or the part of it that names its subject) has exactly the words `wanted`."""
    return bool(wanted) and words_key(wanted) in heading_keys(heading or "")


class Outline:
    def __init__(self, store: VectorStore) -> None:
        self.store = store
        self._index: _Index | None = None
        self._lock = threading.Lock()

    def named(self, wanted: Sequence[str], version: str) -> tuple[str, ...]:
        """The first chunk of every section whose heading (or its naming part) has exactly the words
        `wanted` (stemmed, as `kit.text.terms` gives them); none when more than MAX_NAMED sections do."""
        found = self._current(version).by_words.get(words_key(wanted), ())
        return found if len(found) <= MAX_NAMED else ()

    def rest_of_section(self, first: str, version: str) -> tuple[str, ...]:
        """The chunks of a section after its first (as `named` gives it), in the book's order."""
        return self._current(version).rest.get(first, ())

    def older_format(self, version: str) -> tuple[int, int]:
        """(chunks stored before the current passage format, chunks in all)."""
        index = self._current(version)
        return index.older, index.chunks

    def _current(self, version: str) -> _Index:
        with self._lock:
            if self._index is None or self._index.version != version:
                self._index = _build(self.store, version)
            return self._index


def _build(store: VectorStore, version: str) -> _Index:
    sections: dict[tuple[str, tuple[str, ...], str], list[tuple[int, str]]] = {}
    chunks = older = 0
    for hit in store.payloads(FIELDS):
        p = Passage.from_payload(hit.payload)
        chunks += 1
        older += p.format < PASSAGE_FORMAT
        if p.section:
            where = (p.source_file or "", p.heading_path, p.section)
            sections.setdefault(where, []).append((p.position if p.position is not None else 0, hit.id))
    keys: dict[str, set[frozenset[str]]] = {}
    by_words: dict[frozenset[str], list[str]] = {}
    rest: dict[str, tuple[str, ...]] = {}
    for (_, _, section), placed in sorted(sections.items()):
        ids = [cid for _, cid in sorted(placed)]
        rest[ids[0]] = tuple(ids[1:])
        if section not in keys:
            keys[section] = heading_keys(section)
        for key in keys[section]:
            by_words.setdefault(key, []).append(ids[0])
    return _Index(version, {key: tuple(ids) for key, ids in by_words.items()}, rest, chunks, older)


def admitted(flt: SearchFilter, p: Passage) -> bool:
    """Whether a passage is inside a search's filter (as the store applies it to a search)."""
    return (
        (not flt.source_files or p.source_file in flt.source_files)
        and (not flt.chapter or p.chapter == flt.chapter)
        and (flt.up_to_chapter is None or (p.chapter_number is not None and p.chapter_number <= flt.up_to_chapter))
        and (not flt.document_types or p.document_type in flt.document_types)
    )
