"""The offline answerer: an answer composed only of sentences taken from the retrieved passages.

Nothing is generated, so nothing can be invented: each sentence is quoted from one passage and
carries `[n]`, the number of the citation that holds that passage and the exact quote.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Callable, Container
from dataclasses import dataclass

from src.answering.citations import Composed
from src.answering.deadline import NEVER, Deadline
from src.answering.definitions import defines
from src.answering.guardrails import strip_foreign_links
from src.answering.passage_reading import PassagesRead, read_passages
from src.answering.question import Question
from src.answering.showing import (
    AnswerBlock,
    Shown,
    announced,
    asks_comparison,
    asks_how_to,
    block_sentences,
    comparison_table,
    figure_for,
    task_blocks,
)
from src.kit.text import terms
from src.retrieval.fusion import Fused
from src.retrieval.outline import titles
from src.retrieval.passage import Citation

# Exercise and scenario lines ("You are designing...", "Scenario: ...") read badly as an answer.
_EXERCISE = re.compile(
    r"^(you are|you're|imagine|suppose|scenario|exercise|task|challenge|question|quiz|try|hint|example)\b", re.I
)
# Learning objectives, chapter navigation and reference lists name a topic without explaining it.
_SIGNPOST = re.compile(
    "|".join(
        (
            r"^(understand|explain|implement|describe|learn|create|build|design|compare|apply|identify|analy[sz]e"
            r"|evaluate|master|deploy|validate)\b",
            r"\b(this|the next|the previous|in this) (chapter|section|appendix)\b",
            r"\b(previous|next) chapter\b",
            r"https?://",
            r"\bdocumentation\b",
        )
    ),
    re.I,
)
MIN_RELATIVE_SCORE = 0.6  # a sentence joins the answer when it scores at least this share of the best one
FOLLOWING_SENTENCES = 4  # sentences after the best one that come with it
HEADING_WEIGHT = 0.5
FOCUS_BONUS = 0.1  # for the sentences of the passage that speaks to the question best
COMMENT_WEIGHT = 0.5  # a sentence read from a comment in code counts this share of one in prose
SEEN_WEIGHT = 0.5  # a sentence the student was shown in the answer before (a follow-up) counts this share


@dataclass(frozen=True)
class Picked:
    hit_rank: int
    order: int
    text: str
    score: float
    coverage: float
    stale: bool = False  # shown in the answer before and not about the follow-up's own words


def was_seen(sentence: str, seen: tuple[str, ...]) -> bool:
    """Whether the answer before quoted `sentence` (its citations' quotes hold the book's sentences whole)."""
    return any(sentence in quote for quote in seen)


def compose(
    question: Question,
    hits: list[Fused],
    max_sentences: int = 5,
    max_passages: int = 5,
    weights: dict[str, float] | None = None,
    min_coverage: float = 0.0,
    accept: Callable[[str], bool] | None = None,
    seen: tuple[str, ...] = (),
    own_words: Question | None = None,
    deadline: Deadline = NEVER,
) -> Composed | None:
    """The best-supported sentences for `question`, each cited; None when no passage addresses it.

    A sentence is scored by the share of the question's weight it holds (`weights`: each term's rarity
    in the book; without them, its rarity among these passages), the words of its section's heading
    counting half. Every sentence must bear on the question (`min_coverage` of its weight); the answer
    keeps to the book the search ranked first and leans on the passage that speaks to the question
    best; `accept` narrows the sentences further (examples only, say). The book's defining sentence of
    what a "What is X?" question asks about comes first, with what follows it.

    For a follow-up, `seen` is what the answer before quoted and `own_words` the student's own words: a
    sentence the student has read that holds none of those words is stale. It scores less and does not
    open the answer as the definition, so a follow-up is led by what is new ("Why does it matter for
    walking?" after the ZMP's definition), and what was read before comes back where it speaks to the
    new words ("For stable walking, ZMP must stay...").

    Past `deadline`, no further passage is read and no further sentence scored: the answer is composed
    of what was read (the first passage, at least)."""
    subject = terms(question.subject) if question.subject else []
    if not question.terms or not hits:
        return None
    read = read_passages(hits[:max_passages], subject, accept, deadline)
    if read is None:
        return None
    scorer = Scorer.of(question, hits[:max_passages], read, weights, subject)
    own_terms = set(own_words.terms) if own_words else set()
    picked = scorer.picked(read, min_coverage, seen, own_terms, deadline)
    if not picked:
        return None
    chosen = choose(picked, hits, read, scorer.heading_share, subject, max_sentences)
    if not chosen:
        return None
    return cited(arrange(question, chosen, hits[:max_passages], weights, read.comments), hits)


@dataclass(frozen=True)
class Scorer:
    """How a sentence is scored for a question: the weight of each of its terms, and what each passage's
    heading says of it."""

    q_terms: set[str]
    idf: dict[str, float]
    total_weight: float
    subject: list[str]
    heading_share: dict[int, float]  # the share of the question's weight each passage's heading holds
    heading_terms: dict[int, set[str]]  # the question's terms each passage's heading holds

    @classmethod
    def of(
        cls,
        question: Question,
        hits: list[Fused],
        read: PassagesRead,
        weights: dict[str, float] | None,
        subject: list[str],
    ) -> Scorer:
        q_terms = set(question.terms)
        if weights is None:
            doc_freq = Counter(t for *_, ts in read.candidates for t in set(ts))
            weights = {t: math.log(1 + len(read.candidates) / (1 + doc_freq[t])) for t in q_terms}
        idf = {t: weights.get(t, 1.0) for t in q_terms}
        total = sum(idf.values()) or 1.0
        # A sentence under a heading is about what the heading names: "Developer: Google DeepMind (2023)"
        # under "RT-2 (Robotics Transformer 2)" answers "what's RT-2?". Words found only in the heading count half.
        heading_terms = {rank: q_terms & set(terms(hit.passage.section or "")) for rank, hit in enumerate(hits)}
        heading_share = {rank: sum(idf.get(t, 0.0) for t in held) / total for rank, held in heading_terms.items()}
        return cls(q_terms, idf, total, subject, heading_share, heading_terms)

    def picked(
        self, read: PassagesRead, min_coverage: float, seen: tuple[str, ...], own_terms: set[str], deadline: Deadline
    ) -> list[Picked]:
        """Every candidate sentence that bears on the question, scored (until `deadline`)."""
        picked: list[Picked] = []
        for rank, order, sentence, ts in read.candidates:
            if picked and deadline.passed():
                break
            matched = self.q_terms.intersection(ts)
            from_heading = self.heading_terms[rank] - matched
            if not matched and not from_heading:
                continue
            coverage = (
                sum(self.idf[t] for t in matched) + HEADING_WEIGHT * sum(self.idf[t] for t in from_heading)
            ) / self.total_weight
            # A definition: a sentence that says what the subject is, or the first one under a heading that names it.
            is_definition = bool(self.subject) and (defines(sentence, self.subject) or read.opens_heading(rank, order))
            if coverage < min_coverage and not is_definition:
                continue
            length_penalty = 1.0 if 6 <= len(ts) <= 60 else 0.8
            kind_penalty = (
                0.3 if _EXERCISE.match(sentence) or _SIGNPOST.search(sentence) or rank in read.signposts else 1.0
            )
            if (rank, order) in read.comments:
                kind_penalty *= COMMENT_WEIGHT
            is_stale = bool(seen) and was_seen(sentence, seen) and not own_terms.intersection(ts)
            if is_stale:
                kind_penalty *= SEEN_WEIGHT
            # A passage under a heading that names the question's subject ("PID Control") is about it.
            bonus = (0.35 if is_definition else 0.0) + 0.1 * self.heading_share[rank]
            score = coverage * length_penalty * kind_penalty + bonus + 0.15 / (1 + rank) - 0.01 * order
            picked.append(Picked(rank, order, sentence, score, coverage, is_stale))
        return picked


def choose(
    picked: list[Picked],
    hits: list[Fused],
    read: PassagesRead,
    heading_share: dict[int, float],
    subject: list[str],
    max_sentences: int,
) -> list[Picked]:
    """The sentences of the answer, in the order it says them (none when every score is negative)."""
    # Objectives, exercises and reference lists only when nothing else speaks to the question.
    if any(p.hit_rank not in read.signposts for p in picked):
        picked = [p for p in picked if p.hit_rank not in read.signposts]
    picked.sort(key=lambda p: -p.score)
    # The answer is read mostly from one passage, the one that speaks to the question best (its two best
    # sentences, its heading): a coherent excerpt, not lines gathered from everywhere.
    # The answer keeps to one book: the one the search ranked first, if it has anything to say.
    first_book = hits[0].passage.book
    if any(hits[p.hit_rank].passage.book == first_book for p in picked):
        picked = [p for p in picked if hits[p.hit_rank].passage.book == first_book]
    focus = _focus(picked, heading_share)
    picked = sorted(picked, key=lambda p: -(p.score + (FOCUS_BONUS if p.hit_rank == focus else 0.0)))
    # The book's definition of the subject opens the answer whatever else scores well; a sentence that
    # says what X is beats the first line under a heading that names X; and either, in the section the
    # book titles X, beats one under a heading that only holds X ("Gaussian Processes" for "what is
    # gaussian?"), which beats "X are counted ..." in a section about something else.
    defining = [p for p in picked if subject and not p.stale and defines(p.text, subject)]
    defining += [
        p for p in picked if subject and not p.stale and read.opens_heading(p.hit_rank, p.order) and p not in defining
    ]
    titled = {p.hit_rank for p in defining if titles(hits[p.hit_rank].passage.section, subject)}
    defining.sort(key=lambda p: (p.hit_rank not in titled, p.hit_rank not in read.headed))
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
        return []
    top = chosen[0]
    definition_at = None
    if subject and not top.stale and (defines(top.text, subject) or read.opens_heading(top.hit_rank, top.order)):
        definition_at = (top.hit_rank, top.order)
    # The best sentence is read with what follows it in the book (a definition and its explanation,
    # a lead-in and its list), as long as that is prose about the topic, not an exercise or a signpost.
    following = [
        c for c in read.candidates if c[0] == top.hit_rank and top.order < c[1] <= top.order + FOLLOWING_SENTENCES
    ]
    for rank, order, sentence, _ in following:
        if len(chosen) >= max_sentences + FOLLOWING_SENTENCES:
            break
        taken = any((c.hit_rank == rank and c.order == order) or c.text == sentence for c in chosen)
        if (
            not taken
            and not _EXERCISE.match(sentence)
            and not _SIGNPOST.search(sentence)
            and rank not in read.signposts
        ):
            chosen.append(Picked(rank, order, sentence, 0.0, 0.0))
    # The definition opens the answer; the rest follows in the book's order.
    return sorted(chosen, key=lambda p: ((p.hit_rank, p.order) != definition_at, p.hit_rank, p.order))


FOLLOWING_A_TASK = 3  # sentences an answer that shows the task's command says besides its lead


def arrange(
    question: Question,
    chosen: list[Picked],
    hits: list[Fused],
    weights: dict[str, float] | None,
    comments: Container[tuple[int, int]] = (),
) -> list[Picked | Shown]:
    """The answer's pieces in order: the block a "how do I" or "compare" question asks for first, with the
    sentence that introduces it; then the chosen sentences, each lead-in ending in ':' followed by the
    list, table or code it introduces (a lead-in whose block this passage lacks is left out, never left
    dangling), and a sentence already shown inside a block not said again; a figure of a quoted passage
    that pictures what is asked, last. `comments`: the (rank, order) of sentences read from comments in code."""
    shown: list[Shown] = task_blocks(question.terms, hits, weights) if asks_how_to(question.text) else []
    if not shown and asks_comparison(question.text):
        shown = [table] if (table := comparison_table(question.terms, hits)) is not None else []
    first = shown[0] if shown else None
    pieces: list[Picked | Shown] = []
    inside: set[str] = set()  # sentences a shown block holds (a list's items, a code block's comments)
    for one in shown:
        pieces.append(one)
        inside |= block_sentences(hits[one.rank].passage.content, one.block) | {one.lead or ""}
    said = 0
    # Beside the book's command or table, only what its own section says: never a sentence of another topic.
    place = _place(hits[first.rank]) if first is not None else None
    for p in chosen:
        if p.text in inside or (first is not None and (said >= FOLLOWING_A_TASK or _place(hits[p.hit_rank]) != place)):
            continue
        if p.text.rstrip().endswith(":"):
            block = announced(hits[p.hit_rank].passage.content, p.text)
            if block is None or any(isinstance(x, Shown) and x.block == block for x in pieces):
                continue
            pieces.append(Shown(p.hit_rank, block, p.text))
            inside |= block_sentences(hits[p.hit_rank].passage.content, block)
        else:
            pieces.append(p)
        said += 1
    # Once the answer shows code, a comment read out of code (of that block or of its other chunks) is not said.
    if any(isinstance(x, Shown) and x.block.kind == "code" for x in pieces):
        pieces = [x for x in pieces if isinstance(x, Shown) or (x.hit_rank, x.order) not in comments]
    pieces = [x for x in pieces if isinstance(x, Shown) or x.text not in inside]
    ranks = list(dict.fromkeys(x.rank if isinstance(x, Shown) else x.hit_rank for x in pieces))
    figure = figure_for(question.terms, hits, ranks)
    if figure is not None and not any(isinstance(x, Shown) and x.block == figure.block for x in pieces):
        pieces.append(figure)
    return pieces


def _place(hit: Fused) -> tuple[str | None, tuple[str, ...]]:
    """Where a passage is in the book: its file and the headings above it."""
    return hit.passage.source_file, hit.passage.heading_path


def cited(pieces: list[Picked | Shown], hits: list[Fused]) -> Composed | None:
    """The chosen sentences and blocks as the answer's text, each sentence with its passage's mark, each
    block a Markdown segment of its own; and their citations."""
    numbers: dict[int, int] = {}
    quotes: dict[int, list[str]] = {}
    segments: list[list[str]] = [[]]  # runs of prose sentences, and blocks
    blocks: list[AnswerBlock] = []
    # The answer links only to the book: a link in a quoted sentence that points elsewhere is left out
    # of the answer text (the citation's quote keeps the sentence as the book has it).
    book_urls = {h.passage.url for h in hits if h.passage.url}

    def say(rank: int, text: str) -> None:
        sentence = " ".join(strip_foreign_links(text, book_urls).split()).rstrip(" .,;:")
        if len(sentence.split()) < 3:
            return
        n = numbers.setdefault(rank, len(numbers) + 1)
        quotes.setdefault(rank, []).append(text)
        ending = ":" if text.rstrip().endswith(":") else ("" if sentence[-1] in ".!?" else ".")
        segments[-1].append(f"{sentence}{ending} [{n}]")

    for piece in pieces:
        if isinstance(piece, Picked):
            say(piece.hit_rank, piece.text)
            continue
        if piece.lead:
            say(piece.rank, piece.lead)
        n = numbers.setdefault(piece.rank, len(numbers) + 1)
        heading = (hits[piece.rank].passage.section or "").strip()
        if not piece.lead and not any(segments) and heading:  # a block that opens the answer: its section names it
            segments[-1].append(f"{heading} [{n}]")
        quotes.setdefault(piece.rank, [])
        block = piece.answer_block(n, hits[piece.rank].passage.url)
        blocks.append(block)
        segments += [[block.markdown], []]
    if not numbers or not any(segments):
        return None
    citations = [
        Citation.of(n, hits[rank].id, hits[rank].passage, quotes[rank])
        for rank, n in sorted(numbers.items(), key=lambda kv: kv[1])
    ]
    answer = "\n\n".join(" ".join(segment) for segment in segments if segment)
    coverage = max((p.coverage for p in pieces if isinstance(p, Picked)), default=1.0)
    return Composed(answer, citations, sorted(numbers), coverage, blocks)


def _focus(picked: list[Picked], heading_share: dict[int, float]) -> int:
    """The passage (by rank) an answer should be read from: its best sentence, half its second best,
    and how much of the question its heading names."""
    by_passage: dict[int, list[float]] = {}
    for p in picked:
        by_passage.setdefault(p.hit_rank, []).append(p.score)
    scored = {rank: sorted(scores, reverse=True) for rank, scores in by_passage.items()}
    return max(
        scored,
        key=lambda r: (
            scored[r][0] + 0.5 * (scored[r][1] if len(scored[r]) > 1 else 0.0) + 0.3 * heading_share.get(r, 0.0),
            -r,
        ),
    )


def overlap(a: str, b: str) -> float:
    """The share of the shorter text's terms the other one holds."""
    return shared_share(set(terms(a)), set(terms(b)))


def shared_share(ta: set[str], tb: set[str]) -> float:
    """`overlap` of two texts' terms."""
    return len(ta & tb) / max(1, min(len(ta), len(tb)))
