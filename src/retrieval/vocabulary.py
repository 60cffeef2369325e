"""What the book's own words say about a question's words, read from the BM25 index: how many chunks
hold a word (counted up to a cap), whether a phrase ("Figure 02", "ROS 2 Jazzy") occurs anywhere,
and a word's weight (inverse document frequency). Synchronous (the store is); the service calls it
from a worker thread. Counts are cached per index version, so a re-index is seen at once."""

from __future__ import annotations

import math
import re
import threading
from collections import OrderedDict

from src.retrieval.passage import Passage
from src.retrieval.sparse import SparseEncoder
from src.retrieval.store.base import VectorStore

COUNT_CAP = 200  # past this many chunks a word is common; its exact count does not matter
PHRASE_CANDIDATES = 40
_CACHE_ENTRIES = 20_000


class Vocabulary:
    def __init__(self, store: VectorStore, sparse: SparseEncoder) -> None:
        self.store = store
        self.sparse = sparse
        self._counts: OrderedDict[tuple[str, str], int] = OrderedDict()
        self._totals: dict[str, int] = {}
        self._lock = threading.Lock()

    def _remember(self, key: tuple[str, str], value: int) -> int:
        with self._lock:
            self._counts[key] = value
            self._counts.move_to_end(key)
            while len(self._counts) > _CACHE_ENTRIES:
                self._counts.popitem(last=False)
        return value

    def chunk_count(self, word: str, version: str) -> int:
        """Chunks holding `word` (as BM25 stems it), at most COUNT_CAP; COUNT_CAP for a stopword."""
        key = (version, word.lower())
        with self._lock:
            if key in self._counts:
                return self._counts[key]
        vec = self.sparse.query(word)
        count = COUNT_CAP if not vec.indices else len(self.store.sparse_search(vec, COUNT_CAP, payload_fields=[]))
        return self._remember(key, count)

    def total(self, version: str) -> int:
        with self._lock:
            if version in self._totals:
                return self._totals[version]
        total = self.store.count()
        with self._lock:
            self._totals = {version: total}
        return total

    def weight(self, word: str, version: str) -> float:
        """Inverse document frequency: high for a word few chunks hold, highest for one none holds."""
        return math.log(1 + (self.total(version) + 1) / (self.chunk_count(word, version) + 0.5))

    def max_weight(self, version: str) -> float:
        """The weight of a word no chunk holds."""
        return math.log(1 + (self.total(version) + 1) / 0.5)

    def has_variant(self, word: str, version: str) -> bool:
        """Whether some chunk holds a word one edit away from `word`, or another form of it: the student's
        typo ("Hartmanis" for "Hatmanis") or adjective ("Californian" for "California")."""
        key = (version, "variant:" + word.lower())
        with self._lock:
            if key in self._counts:
                return bool(self._counts[key])
        variants = near_variants(word)
        found = bool(variants) and bool(
            self.store.sparse_search(self.sparse.query(" ".join(variants)), 1, payload_fields=[])
        )
        return bool(self._remember(key, int(found)))

    def mentions(self, phrase: str, version: str) -> bool:
        """Whether the phrase occurs in some chunk, its words in order (case, spaces and hyphens aside)."""
        key = (version, "phrase:" + phrase.lower())
        with self._lock:
            if key in self._counts:
                return bool(self._counts[key])
        words = re.findall(r"[A-Za-z0-9]+", phrase)
        hits = (
            self.store.sparse_search(
                self.sparse.query(phrase), PHRASE_CANDIDATES, payload_fields=["content", "title", "section"]
            )
            if words
            else []
        )
        pattern = re.compile(r"[\s\-_]*".join(re.escape(w) for w in words), re.I)
        passages = [Passage.from_payload(h.payload) for h in hits]
        found = any(pattern.search(" ".join((p.content, p.title or "", p.section or ""))) for p in passages)
        return bool(self._remember(key, int(found)))


_LETTERS = "abcdefghijklmnopqrstuvwxyz"
MAX_VARIANT_LETTERS = 32  # longer than the longest words a book uses ("electroencephalography" is 22)
_FORMS = (
    ("ian", ""),
    ("ian", "ia"),
    ("an", "a"),
    ("an", ""),
    ("n", ""),
    ("ist", "ism"),
    ("ists", "ism"),
    ("s", ""),
    ("es", ""),
)


def near_variants(word: str) -> list[str]:
    """Other forms of a word, and its spellings one edit away, as far as the word is long enough that an
    edit is more likely a typo than another word ("sqlx" is not a typo of "sql"): swaps from 4 letters,
    deletions and insertions from 6, substitutions from 7; none past MAX_VARIANT_LETTERS."""
    w = word.lower()
    # A word is at most this long to have its spellings tried: there are 51 per letter, each as long as it.
    if not w.isalpha() or len(w) < 4 or len(w) > MAX_VARIANT_LETTERS:
        return []
    out = {w[: -len(end)] + new for end, new in _FORMS if w.endswith(end) and len(w) - len(end) >= 4}
    out |= {w[:i] + w[i + 1] + w[i] + w[i + 2 :] for i in range(len(w) - 1)}
    if len(w) >= 6:
        out |= {w[:i] + w[i + 1 :] for i in range(len(w))}
        out |= {w[:i] + c + w[i:] for i in range(len(w) + 1) for c in _LETTERS}
    if len(w) >= 7:
        out |= {w[:i] + c + w[i + 1 :] for i in range(len(w)) for c in _LETTERS if c != w[i]}
    out.discard(w)
    return sorted(out)
