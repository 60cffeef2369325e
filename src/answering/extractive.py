"""The offline answerer: an answer composed only of sentences taken from the retrieved passages.

Nothing is generated, so nothing can be invented: each sentence is quoted from one passage and
carries `[n]`, the number of the citation that holds that passage and the exact quote.
"""

from __future__ import annotations

import math
import re
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from src.answering.definitions import defines, definition_subject
from src.answering.guardrails import is_planted_instruction, strip_foreign_links
from src.kit.text import marked_sentences, terms
from src.retrieval.fusion import Fused

# Exercise and scenario lines ("You are designing...", "Scenario: ...") read badly as an answer.
_EXERCISE = re.compile(r"^(you are|you're|imagine|suppose|scenario|exercise|task|challenge|question|quiz|try|hint|example)\b", re.I)
# Learning objectives, chapter navigation and reference lists name a topic without explaining it.
_SIGNPOST = re.compile(
    r"^(understand|explain|implement|describe|learn|create|build|design|compare|apply|identify|analy[sz]e|evaluate|master|deploy|validate)\b"
    r"|\b(this|the next|the previous|in this) (chapter|section|appendix)\b|\b(previous|next) chapter\b|https?://|\bdocumentation\b",
    re.I,
)
# Sections that point at a topic without explaining it.
NOT_AN_ANSWER_SECTION = re.compile(
    r"^(learning objectives?|objectives|exercises?\b.*|references|further reading|prerequisites|resources|quiz|next steps)$", re.I
)
MIN_RELATIVE_SCORE = 0.6  # a sentence joins the answer when it scores at least this share of the best one
FOLLOWING_SENTENCES = 4  # sentences after the best one that come with it
HEADING_WEIGHT = 0.5
FOCUS_BONUS = 0.1  # for the sentences of the passage that speaks to the question best
COMMENT_WEIGHT = 0.5  # a sentence read from a comment in code counts this share of one in prose
SEEN_WEIGHT = 0.5  # a sentence the student was shown in the answer before (a follow-up) counts this share


@dataclass(frozen=True)
class Deadline:
    """When composing stops reading and answers with what it has (a `time.monotonic()` instant). The
    composer runs in a worker thread, which cannot be cancelled: it checks this as it goes instead."""

    at: float

    @classmethod
    def after(cls, seconds: float) -> Deadline:
        return cls(time.monotonic() + seconds)

    def passed(self) -> bool:
        return time.monotonic() >= self.at


NEVER = Deadline(math.inf)


@dataclass(frozen=True)
class Picked:
    hit_rank: int
    order: int
    text: str
    score: float
    coverage: float
    stale: bool = False  # shown in the answer before and not about the follow-up's own words


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


def was_seen(sentence: str, seen: tuple[str, ...]) -> bool:
    """Whether the answer before quoted `sentence` (its citations' quotes hold the book's sentences whole)."""
    return any(sentence in quote for quote in seen)


def book_of(hit: Fused) -> str:
    """Which book a passage is from, when several share one index (`rust-book/src/...`): its top folder."""
    source = str(hit.payload.get("source_file") or "")
    return source.split("/", 1)[0] if "/" in source else ""


def compose(
    question: str,
    hits: list[Fused],
    max_sentences: int = 5,
    max_passages: int = 5,
    weights: dict[str, float] | None = None,
    min_coverage: float = 0.0,
    accept: Callable[[str], bool] | None = None,
    seen: tuple[str, ...] = (),
    asked: str = "",
    deadline: Deadline = NEVER,
) -> Composed | None:
    """The best-supported sentences for `question`, each cited; None when no passage addresses it.

    A sentence is scored by the share of the question's weight it holds (`weights`: each term's rarity
    in the book; without them, its rarity among these passages), the words of its section's heading
    counting half. Every sentence must bear on the question (`min_coverage` of its weight); the answer
    keeps to the book the search ranked first and leans on the passage that speaks to the question
    best; `accept` narrows the sentences further (examples only, say). The book's defining sentence of
    what a "What is X?" question asks about comes first, with what follows it.

    For a follow-up, `seen` is what the answer before quoted and `asked` the student's own words: a
    sentence the student has read that holds none of those words is stale. It scores less and does not
    open the answer as the definition, so a follow-up is led by what is new ("Why does it matter for
    walking?" after the ZMP's definition), and what was read before comes back where it speaks to the
    new words ("For stable walking, ZMP must stay...").

    Past `deadline`, no further passage is read and no further sentence scored: the answer is composed
    of what was read (the first passage, at least)."""
    q_terms = set(terms(question))
    own_terms = set(terms(asked))

    def stale(sentence: str, sentence_terms: list[str]) -> bool:
        return bool(seen) and was_seen(sentence, seen) and not own_terms.intersection(sentence_terms)

    subject_text = definition_subject(question)
    subject = terms(subject_text) if subject_text else []
    if not q_terms or not hits:
        return None
    candidates: list[tuple[int, int, str, list[str]]] = []
    signposts = {rank for rank, hit in enumerate(hits[:max_passages]) if NOT_AN_ANSWER_SECTION.match(str(hit.payload.get("section") or ""))}
    headed = {rank for rank, hit in enumerate(hits[:max_passages]) if subject and names_subject(str(hit.payload.get("section") or ""), subject)}
    # A comment in a passage's code ("# Store for next iteration") explains a line of code, not the topic:
    # it scores less, and is never the first line under a heading, which is read as the definition.
    comment_at: set[tuple[int, int]] = set()
    for rank, hit in enumerate(hits[:max_passages]):
        if rank and deadline.passed():
            break
        for order, (sentence, from_code) in enumerate(marked_sentences(str(hit.payload.get("content", "")))):
            # Text addressed to the assistant is never quoted, and a question answers nothing.
            if not is_planted_instruction(sentence) and not sentence.rstrip().endswith("?") and (accept is None or accept(sentence)):
                candidates.append((rank, order, sentence, terms(sentence)))
                if from_code:
                    comment_at.add((rank, order))
    if not candidates:
        return None
    first_of: dict[int, int] = {}
    for rank, order, *_ in candidates:
        if (rank, order) not in comment_at:
            first_of.setdefault(rank, order)
    if weights is None:
        doc_freq = Counter(t for *_, ts in candidates for t in set(ts))
        weights = {t: math.log(1 + len(candidates) / (1 + doc_freq[t])) for t in q_terms}
    idf = {t: weights.get(t, 1.0) for t in q_terms}
    total_weight = sum(idf.values()) or 1.0
    heading_share = {
        rank: sum(idf.get(t, 0.0) for t in q_terms & set(terms(str(hit.payload.get("section") or "")))) / (sum(idf.values()) or 1.0)
        for rank, hit in enumerate(hits[:max_passages])
    }
    picked: list[Picked] = []
    definition_at: tuple[int, int] | None = None
    # A sentence under a heading is about what the heading names: "Developer: Google DeepMind (2023)"
    # under "RT-2 (Robotics Transformer 2)" answers "what's RT-2?". Words found only in the heading count half.
    heading_terms = {rank: q_terms & set(terms(str(hit.payload.get("section") or ""))) for rank, hit in enumerate(hits[:max_passages])}
    for rank, order, sentence, ts in candidates:
        if picked and deadline.passed():
            break
        matched = q_terms.intersection(ts)
        from_heading = heading_terms[rank] - matched
        if not matched and not from_heading:
            continue
        coverage = (sum(idf[t] for t in matched) + HEADING_WEIGHT * sum(idf[t] for t in from_heading)) / total_weight
        # A definition: a sentence that says what the subject is, or the first one under a heading that names it.
        is_definition = bool(subject) and (defines(sentence, subject) or (rank in headed and order == first_of.get(rank)))
        if coverage < min_coverage and not is_definition:
            continue
        length_penalty = 1.0 if 6 <= len(ts) <= 60 else 0.8
        kind_penalty = 0.3 if _EXERCISE.match(sentence) or _SIGNPOST.search(sentence) or rank in signposts else 1.0
        if (rank, order) in comment_at:
            kind_penalty *= COMMENT_WEIGHT
        is_stale = stale(sentence, ts)
        if is_stale:
            kind_penalty *= SEEN_WEIGHT
        # A passage under a heading that names the question's subject ("PID Control") is about it.
        bonus = (0.35 if is_definition else 0.0) + 0.1 * heading_share[rank]
        score = coverage * length_penalty * kind_penalty + bonus + 0.15 / (1 + rank) - 0.01 * order
        picked.append(Picked(rank, order, sentence, score, coverage, is_stale))
    if not picked:
        return None
    # Objectives, exercises and reference lists only when nothing else speaks to the question.
    if any(p.hit_rank not in signposts for p in picked):
        picked = [p for p in picked if p.hit_rank not in signposts]
    picked.sort(key=lambda p: -p.score)
    # The answer is read mostly from one passage, the one that speaks to the question best (its two best
    # sentences, its heading): a coherent excerpt, not lines gathered from everywhere.
    # The answer keeps to one book: the one the search ranked first, if it has anything to say.
    first_book = book_of(hits[0])
    if any(book_of(hits[p.hit_rank]) == first_book for p in picked):
        picked = [p for p in picked if book_of(hits[p.hit_rank]) == first_book]
    focus = _focus(picked, heading_share)
    picked = sorted(picked, key=lambda p: -(p.score + (FOCUS_BONUS if p.hit_rank == focus else 0.0)))
    # The book's definition of the subject opens the answer whatever else scores well; a sentence that
    # says what X is beats the first line under a heading that names X.
    defining = [p for p in picked if subject and not p.stale and defines(p.text, subject)]
    defining += [p for p in picked if subject and not p.stale and p.hit_rank in headed and p.order == first_of.get(p.hit_rank) and p not in defining]
    if defining:
        picked = [defining[0], *(p for p in picked if p is not defining[0])]
    best = picked[0].score
    chosen: list[Picked] = []
    for p in picked:
        if len(chosen) >= max_sentences or p.score <= 0:
            break
        if p.score < best * MIN_RELATIVE_SCORE or any(overlap(p.text, c.text) > 0.7 for c in chosen):
            continue
        chosen.append(p)
    if not chosen:  # every score is negative (faint matches deep in long passages): nothing answers it
        return None
    if (
        subject
        and not chosen[0].stale
        and (defines(chosen[0].text, subject) or (chosen[0].hit_rank in headed and chosen[0].order == first_of.get(chosen[0].hit_rank)))
    ):
        definition_at = (chosen[0].hit_rank, chosen[0].order)
    # The best sentence is read with what follows it in the book (a definition and its explanation,
    # a lead-in and its list), as long as that is prose about the topic, not an exercise or a signpost.
    top = chosen[0]
    following = [c for c in candidates if c[0] == top.hit_rank and top.order < c[1] <= top.order + FOLLOWING_SENTENCES]
    for rank, order, sentence, _ in following:
        if len(chosen) >= max_sentences + FOLLOWING_SENTENCES:
            break
        taken = any((c.hit_rank == rank and c.order == order) or c.text == sentence for c in chosen)
        if not taken and not _EXERCISE.match(sentence) and not _SIGNPOST.search(sentence) and rank not in signposts:
            chosen.append(Picked(rank, order, sentence, 0.0, 0.0))
    # The definition opens the answer; the rest follows in the book's order.
    chosen.sort(key=lambda p: ((p.hit_rank, p.order) != definition_at, p.hit_rank, p.order))
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
        sentence = sentence + ":" if p.text.rstrip().endswith(":") else (sentence if sentence[-1] in ".!?" else sentence + ".")
        parts.append(f"{sentence} [{n}]")
    if not parts:
        return None
    citations = [citation_for(n, hits[rank], quotes[rank]) for rank, n in sorted(numbers.items(), key=lambda kv: kv[1])]
    return Composed(" ".join(parts), citations, sorted(numbers), max(p.coverage for p in chosen))


_PARENTHESIS = re.compile(r"\([^()]*\)")  # from a "(" to the next parenthesis: a run of "(" is read once


def names_subject(heading: str, subject: list[str]) -> bool:
    """Whether a heading is about the subject itself ("What is a Digital Twin?", "Strategy 1: Domain
    Randomization", "RT-2 (Robotics Transformer 2)"), not merely mentions it ("Digital Twin vs Simulation")."""
    words = terms(_PARENTHESIS.sub(" ", heading))
    if not words or not set(subject) <= set(words):
        return False
    return len(set(words) - set(subject)) <= 1 or words[: len(subject)] == subject


def _focus(picked: list[Picked], heading_share: dict[int, float]) -> int:
    """The passage (by rank) an answer should be read from: its best sentence, half its second best,
    and how much of the question its heading names."""
    by_passage: dict[int, list[float]] = {}
    for p in picked:
        by_passage.setdefault(p.hit_rank, []).append(p.score)
    scored = {rank: sorted(scores, reverse=True) for rank, scores in by_passage.items()}
    return max(scored, key=lambda r: (scored[r][0] + 0.5 * (scored[r][1] if len(scored[r]) > 1 else 0.0) + 0.3 * heading_share.get(r, 0.0), -r))


def overlap(a: str, b: str) -> float:
    """The share of the shorter text's terms the other one holds."""
    return shared_share(set(terms(a)), set(terms(b)))


def shared_share(ta: set[str], tb: set[str]) -> float:
    """`overlap` of two texts' terms."""
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
    texts: dict[str, None] = {}  # in order, each once (a selection's answer may quote hundreds of its sentences)
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
        texts.update((piece.strip(), None) for piece in _CITED_SENTENCE.findall(renumbered))
    return Composed(
        " ".join(texts),
        sorted(by_chunk.values(), key=lambda c: c["id"]),
        sorted({r for c in answers for r in c.used_ranks}),
        min(c.coverage for c in answers),
    )
