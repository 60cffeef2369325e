"""The offline answerer: an answer composed only of sentences taken from the retrieved passages.

Nothing is generated, so nothing can be invented: each sentence is quoted from one passage and
carries `[n]`, the number of the citation that holds that passage and the exact quote.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass
from typing import Any

from src.answering.guardrails import is_planted_instruction, strip_foreign_links
from src.kit.text import sentences_of, terms
from src.retrieval.fusion import Fused

# Exercise and scenario lines ("You are designing...", "Scenario: ...") read badly as an answer.
_EXERCISE = re.compile(r"^(you are|you're|imagine|suppose|scenario|exercise|task|challenge|question|quiz|try|hint|example)\b", re.I)
# Learning objectives, chapter navigation and reference lists name a topic without explaining it.
_SIGNPOST = re.compile(
    r"^(understand|explain|implement|describe|learn|create|build|design|compare|apply|identify|analy[sz]e|evaluate|master|deploy|validate)\b"
    r"|\b(this|the next|the previous|in this) (chapter|section|appendix)\b|\b(previous|next) chapter\b|https?://|\bdocumentation\b",
    re.I,
)
_DEFINITION_QUESTION = re.compile(r"^\s*(what|who)\s+(is|are|was|were)\s+(an?\s+|the\s+)?(?P<subject>[^?]+?)\s*\??\s*$", re.I)
_DEFINES = re.compile(r"\b(is|are|was|were|refers to|means|describes|known as|also called|called)\b|:|\(", re.I)


def defines(sentence: str, subject: list[str]) -> bool:
    """Whether `sentence` opens by defining the subject: "A digital twin is...", "ZMP: the point..."."""
    head = " ".join(sentence.split()[: len(subject) + 10])
    return any(set(subject) <= set(terms(head[: match.end()])) for match in _DEFINES.finditer(head))


MIN_RELATIVE_SCORE = 0.6  # a sentence joins the answer when it scores at least this share of the best one
FOLLOWING_SENTENCES = 2  # sentences after the best one that come with it


@dataclass(frozen=True)
class Picked:
    hit_rank: int
    order: int
    text: str
    score: float
    coverage: float


@dataclass(frozen=True)
class Composed:
    answer: str
    citations: list[dict[str, Any]]
    used_ranks: list[int]
    coverage: float  # share of the question's terms (IDF-weighted) in the best sentence


def citation_for(n: int, hit: Fused, quotes: list[str]) -> dict[str, Any]:
    p = hit.payload
    return {
        "id": n,
        "chunk_id": hit.id,
        "source_file": p.get("source_file"),
        "title": p.get("title"),
        "section": p.get("section"),
        "heading_path": p.get("heading_path", []),
        "url": p.get("url"),
        "quote": " ".join(quotes),
    }


def compose(question: str, hits: list[Fused], max_sentences: int = 4, max_passages: int = 5) -> Composed | None:
    """The best-supported sentences for `question`, each cited; None when no passage addresses it.
    A definition of what a "What is X?" question asks about comes first."""
    q_terms = set(terms(question))
    definition = _DEFINITION_QUESTION.match(question)
    subject = terms(definition["subject"]) if definition else []
    if not q_terms or not hits:
        return None
    candidates: list[tuple[int, int, str, list[str]]] = []
    for rank, hit in enumerate(hits[:max_passages]):
        for order, sentence in enumerate(sentences_of(str(hit.payload.get("content", "")))):
            # Text addressed to the assistant is never quoted, and a question answers nothing.
            if not is_planted_instruction(sentence) and not sentence.rstrip().endswith("?"):
                candidates.append((rank, order, sentence, terms(sentence)))
    if not candidates:
        return None
    doc_freq = Counter(t for *_, ts in candidates for t in set(ts))
    total = len(candidates)
    idf = {t: math.log(1 + total / (1 + doc_freq[t])) for t in q_terms}
    picked: list[Picked] = []
    for rank, order, sentence, ts in candidates:
        matched = q_terms.intersection(ts)
        if not matched:
            continue
        coverage = sum(idf[t] for t in matched) / sum(idf.values())
        length_penalty = 1.0 if 6 <= len(ts) <= 60 else 0.8
        kind_penalty = 0.3 if _EXERCISE.match(sentence) or _SIGNPOST.search(sentence) else 1.0
        bonus = 0.25 if subject and defines(sentence, subject) else 0.0
        score = coverage * length_penalty * kind_penalty + bonus + 0.15 / (1 + rank) - 0.01 * order
        picked.append(Picked(rank, order, sentence, score, coverage))
    if not picked:
        return None
    picked.sort(key=lambda p: -p.score)
    best = picked[0].score
    chosen: list[Picked] = []
    for p in picked:
        if len(chosen) >= max_sentences or p.score < best * MIN_RELATIVE_SCORE:
            break
        if any(_overlap(p.text, c.text) > 0.7 for c in chosen):
            continue
        chosen.append(p)
    if not chosen:  # every score is negative (faint matches deep in long passages): nothing answers it
        return None
    # The best sentence is read with what follows it in the book (a definition and its explanation,
    # a lead-in and its list), as long as that is prose about the topic, not an exercise or a signpost.
    top = chosen[0]
    following = [c for c in candidates if c[0] == top.hit_rank and top.order < c[1] <= top.order + FOLLOWING_SENTENCES]
    for rank, order, sentence, _ in following:
        if len(chosen) >= max_sentences + FOLLOWING_SENTENCES:
            break
        taken = any((c.hit_rank == rank and c.order == order) or c.text == sentence for c in chosen)
        if not taken and not _EXERCISE.match(sentence) and not _SIGNPOST.search(sentence):
            chosen.append(Picked(rank, order, sentence, 0.0, 0.0))
    chosen.sort(key=lambda p: (p.hit_rank, p.order))
    numbers: dict[int, int] = {}
    quotes: dict[int, list[str]] = {}
    parts = []
    # The answer links only to the book: a link in a quoted sentence that points elsewhere is left out
    # of the answer text (the citation's quote keeps the sentence as the book has it).
    book_urls = {str(h.payload["url"]) for h in hits if h.payload.get("url")}
    for p in chosen:
        sentence = " ".join(strip_foreign_links(p.text, book_urls).split()).rstrip(" .,;:")
        if len(sentence.split()) < 3:
            continue
        n = numbers.setdefault(p.hit_rank, len(numbers) + 1)
        quotes.setdefault(p.hit_rank, []).append(p.text)
        sentence = sentence if sentence[-1] in ".!?" else sentence + "."
        parts.append(f"{sentence} [{n}]")
    if not parts:
        return None
    citations = [citation_for(n, hits[rank], quotes[rank]) for rank, n in sorted(numbers.items(), key=lambda kv: kv[1])]
    return Composed(" ".join(parts), citations, sorted(numbers), max(p.coverage for p in chosen))


def _overlap(a: str, b: str) -> float:
    ta, tb = set(terms(a)), set(terms(b))
    return len(ta & tb) / max(1, min(len(ta), len(tb)))


_MARK = re.compile(r"\[(\d+)\]")
_CITED_SENTENCE = re.compile(r"[^\[]*?\[\d+\]|.+$", re.S)


def _renumber(answer: str, numbers: dict[int, int]) -> str:
    def one(match: re.Match[str]) -> str:
        n = int(match.group(1))
        return f"[{numbers.get(n, n)}]"

    return _MARK.sub(one, answer)


def merge(answers: list[Composed]) -> Composed:
    """Several composed answers as one (a compound question's parts), citations renumbered so that a
    passage cited by two parts keeps one number."""
    by_chunk: dict[str, dict[str, Any]] = {}
    texts: list[str] = []
    for composed in answers:
        renumber: dict[int, int] = {}
        for citation in composed.citations:
            merged = by_chunk.get(citation["chunk_id"])
            if merged is None:
                merged = by_chunk[citation["chunk_id"]] = {**citation, "id": len(by_chunk) + 1}
            elif citation["quote"] not in merged["quote"]:
                merged["quote"] = f"{merged['quote']} {citation['quote']}"
            renumber[citation["id"]] = merged["id"]
        renumbered = _renumber(composed.answer, renumber)
        # A sentence both parts chose is said once.
        texts.extend(piece.strip() for piece in _CITED_SENTENCE.findall(renumbered) if piece.strip() not in texts)
    return Composed(
        " ".join(texts),
        sorted(by_chunk.values(), key=lambda c: c["id"]),
        sorted({r for c in answers for r in c.used_ranks}),
        min(c.coverage for c in answers),
    )
