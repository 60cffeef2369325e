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
import time
from collections.abc import Sequence
from dataclasses import dataclass

from src.kit.logging import get_logger
from src.kit.text import terms
from src.retrieval.passage import PASSAGE_FORMAT, Passage
from src.retrieval.store.base import SearchFilter, VectorStore

log = get_logger(__name__)

FIELDS = ["source_file", "section", "heading_path", "position", "format"]
MAX_NAMED = 30  # a heading more sections share than this ("Overview") names nothing in particular
# Past this many chunks (about 100 books in one index) the outline is not read: its read would hold a few
# hundred MB and seconds of a worker thread at each re-index; the heading lookup is then off.
MAX_CHUNKS = 300_000
BUILD_WAIT_SECONDS = 2.0

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
    skipped: bool = False  # past MAX_CHUNKS: not read


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
    """The outline of the index as of its latest version read. A new version is read in a thread of its
    own: questions wait for it at most BUILD_WAIT_SECONDS from the read's start (a book's outline is read
    in a fraction of a second), and past that are answered with the outline before, so a large index never holds a question
    up. Past MAX_CHUNKS chunks the outline is not read at all, and names no section."""

    def __init__(
        self, store: VectorStore, max_chunks: int = MAX_CHUNKS, wait_seconds: float = BUILD_WAIT_SECONDS
    ) -> None:
        self.store = store
        self.max_chunks = max_chunks
        self.wait_seconds = wait_seconds
        self._index = _Index("", {}, {}, 0, 0)
        self._building: tuple[str, threading.Event, float] | None = None  # version, done, wait until
        self._lock = threading.Lock()

    def named(self, wanted: Sequence[str], version: str) -> tuple[str, ...]:
        """The first chunk of every section whose heading (or its naming part) has exactly the words
        `wanted` (stemmed, as `kit.text.terms` gives them); none when more than MAX_NAMED sections do."""
        found = self._current(version).by_words.get(words_key(wanted), ())
        return found if len(found) <= MAX_NAMED else ()

    def rest_of_section(self, first: str, version: str) -> tuple[str, ...]:
        """The chunks of a section after its first (as `named` gives it), in the book's order."""
        return self._current(version).rest.get(first, ())

    def older_format(self, version: str) -> tuple[int, int] | None:
        """(chunks stored before the current passage format, chunks in all); None while that is not known
        (the outline of this version is still being read, or the index is past MAX_CHUNKS)."""
        index = self._current(version)
        return (index.older, index.chunks) if index.version == version and not index.skipped else None

    def _current(self, version: str) -> _Index:
        with self._lock:
            if self._index.version == version:
                return self._index
            if self._building is None or self._building[0] != version:
                done = threading.Event()
                self._building = (version, done, time.monotonic() + self.wait_seconds)
                threading.Thread(target=self._build, args=(version, done), name="outline", daemon=True).start()
            _, done, wait_until = self._building
        # The wait is counted from the read's start: while a long read goes on, later questions do not wait.
        done.wait(max(0.0, wait_until - time.monotonic()))
        with self._lock:
            return self._index

    def _build(self, version: str, done: threading.Event) -> None:
        index: _Index | None = None
        try:
            total = self.store.count()
            if total > self.max_chunks:
                log.warning("OUTLINE_SKIPPED", chunks=total, max_chunks=self.max_chunks)
                index = _Index(version, {}, {}, total, 0, skipped=True)
            else:
                index = _build(self.store, version)
        except Exception as exc:  # noqa: BLE001 - a failed read leaves the outline before; the next question retries
            log.warning("OUTLINE_READ_FAILED", error=type(exc).__name__)
        finally:
            with self._lock:
                if index is not None:
                    self._index = index
                self._building = None
            done.set()


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
