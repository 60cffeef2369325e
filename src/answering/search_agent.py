"""The retrieval agent: searches the book for a (standalone) question. A compound question is
searched part by part and the results interleaved; when the evidence is weak, a keywords-only
reformulation is searched too and the better result kept."""

from __future__ import annotations

from dataclasses import dataclass

from src.answering.definitions import defines
from src.answering.passage_reading import NOT_AN_ANSWER_SECTION
from src.answering.planning import reformulate, split_compound
from src.answering.question import Question
from src.answering.showing import asks_how_to, task_block
from src.kit.text import marked_sentences, sentences_of, terms, words
from src.retrieval.fusion import Fused, Preference
from src.retrieval.outline import titles, words_key
from src.retrieval.service import RetrievalService
from src.retrieval.store.base import SearchFilter


@dataclass(frozen=True)
class Part:
    question: str  # the part as asked (named in the answer when the book does not cover it)
    hits: list[Fused]
    evidence: float
    query: Question  # what was searched: the part, or its keywords when they found more


@dataclass(frozen=True)
class Found:
    hits: list[Fused]
    evidence: float
    parts: list[Part]  # each part of the question with its own hits (one part for a simple question)


# An answer draws on neighbouring sections of one chapter more than a list of results does.
ANSWER_PER_SOURCE = 5
DEFINITION_CANDIDATES = 15
ANSWER_EXTRA = 5  # passages fetched beyond k, for `for_answer` to choose from
HEADING_LIFT = 0.15
TASK_LIFT = 0.1
SECTION_CHUNKS = 3  # of the section a "how do I" question's task titles, the chunks an answer reads
SIGNPOST_DROP = 0.3


def for_answer(question: Question, hits: list[Fused]) -> list[Fused]:
    """The passages in the order an answer wants them: a section whose heading names what the question
    asks about comes up ("Kalman Filter" for "what is a Kalman filter used for?"), and objectives,
    exercises and reference lists, which name a topic without explaining it, go down."""
    wanted = set(question.terms)
    if not wanted:
        return hits
    # "How do I ...?": a passage whose code does the task comes up (it may be ranked past k by prose).
    how_to = asks_how_to(question.text)

    def score(hit: Fused) -> float:
        section = hit.passage.section or ""
        named = len(wanted & set(terms(section))) / len(wanted)
        task = TASK_LIFT if how_to and task_block(question.terms, [hit], None) is not None else 0.0
        return (
            hit.score + HEADING_LIFT * named + task - (SIGNPOST_DROP if NOT_AN_ANSWER_SECTION.match(section) else 0.0)
        )

    return sorted(hits, key=lambda h: -score(h))


def names_subject_in_path(hit: Fused, wanted: list[str]) -> bool:
    """Whether the passage's section names the subject: all its words, or its last word (the thing itself)
    with the others in the headings above it or the page's title."""
    if not wanted:
        return False
    section = set(terms(hit.passage.section or ""))
    above = set(terms(" ".join(hit.passage.heading_path) + " " + (hit.passage.title or "")))
    return set(wanted) <= section or (wanted[-1] in section and set(wanted) <= section | above)


def naming_rank(hit: Fused, wanted: list[str], subject: str = "") -> tuple[int, int, int, int, int]:
    """How closely a section names the subject, best first: its heading is the subject as written (case and
    marks aside: "Who This Book Is For", not "How to Use This Book", though both have one content word),
    then has the subject's words and no other, then holds all its words, then opens with it; then fewer
    other words in the heading."""
    section = set(terms(hit.passage.section or ""))
    return (
        not subject or _written(hit.passage.section or "") != _written(subject),
        section != set(wanted),
        not set(wanted) <= section,
        not opens_with(hit, wanted[-1:]),
        len(section - set(wanted)),
    )


def _written(text: str) -> list[str]:
    """A heading's or subject's words as written, lower-cased, without a step's leading number."""
    found = [w.lower() for w in words(text)]
    while found and found[0].replace(".", "").isdigit():
        found = found[1:]
    return found


def _ends_with(words_: list[str], tail: list[str]) -> bool:
    return bool(tail) and words_[-len(tail) :] == tail


def opens_with(hit: Fused, head: list[str]) -> bool:
    """Whether the passage's first sentence of prose starts with the subject ("Topics enable ...")."""
    first = next((s for s, from_code in marked_sentences(hit.passage.content) if not from_code), "")
    return bool(head) and terms(first)[: len(head)] == head


class SearchAgent:
    def __init__(self, retrieval: RetrievalService, evidence_threshold: float) -> None:
        self.retrieval = retrieval
        self.threshold = evidence_threshold

    async def find(self, question: Question, k: int, flt: SearchFilter, preference: Preference | None = None) -> Found:
        texts = split_compound(question.text)
        parts = [question] if len(texts) == 1 else [Question.parse(text) for text in texts]
        results = [await self._search(part, k, flt, preference) for part in parts]
        if len(parts) == 1:
            hits, evidence, used = results[0]
            how_to = not question.subject and asks_how_to(question.text)
            if question.subject:
                hits = await self._definition_first(question, hits, k, flt, preference)
            elif how_to:
                hits = await self._task_first(question, hits, k, flt, preference)
            named = [list(question.terms), *([terms(question.subject)] if question.subject else [])]
            if hits and (question.subject or how_to) and any(titles(hits[0].passage.section, w) for w in named):
                # Every word the student asked about is a heading of the book: it covers the question,
                # however little the section's text resembles its wording.
                evidence = max(evidence, self.threshold)
            return Found(hits, evidence, [Part(question.text, hits, evidence, used)])
        merged: list[Fused] = []
        seen: set[str] = set()
        for rank in range(k):
            for hits, _, _ in results:
                if rank < len(hits) and hits[rank].id not in seen:
                    seen.add(hits[rank].id)
                    merged.append(hits[rank])
        # Answered as far as the book covers it: the parts it does not cover are named in the answer.
        evidence = max(e for _, e, _ in results)
        return Found(
            merged[: k * len(parts)],
            evidence,
            [Part(p.text, r[0], r[1], r[2]) for p, r in zip(parts, results, strict=True)],
        )

    async def _definition_first(
        self, question: Question, hits: list[Fused], k: int, flt: SearchFilter, preference: Preference | None
    ) -> list[Fused]:
        """The passage where the book defines the subject, first: searched for by the subject alone when
        the question's own results do not hold it (a chapter that mentions X often can outrank the
        one sentence that says what X is)."""
        subject = question.subject or ""
        wanted = terms(subject)
        # A section titled with all the question's words ("Dropout in Practice" for "explain dropout in
        # practice") is more precise than one titled with the subject alone ("Dropout").
        if words_key(question.terms) != words_key(wanted):
            whole = await self.retrieval.named_sections(question.terms, question.text, flt, preference)
            if whole:
                found = {h.id for h in hits}
                top = min(whole, key=lambda t: t.id not in found)
                return [top, *(h for h in hits if h.id != top.id)][:k]
        # No cap per file: the defining passage is often one more chunk of the chapter that mentions X most.
        by_subject = await self.retrieval.search(subject, DEFINITION_CANDIDATES, flt, DEFINITION_CANDIDATES, preference)
        # And the sections the book titles with the subject, which neither search may have ranked.
        titled = await self.retrieval.named_sections(tuple(wanted), subject, flt, preference)
        pool = [*hits, *by_subject.hits, *titled]
        # A section the subject names ("### Strategy 1: Domain Randomization", or "Topics" in a chapter on
        # "ROS2" for "a ROS 2 topic") first, one that opens with the subject before one that does not; then a
        # sentence that defines it.
        named = [(i, hit) for i, hit in enumerate(pool) if names_subject_in_path(hit, wanted)]
        if named:
            _, hit = min(named, key=lambda pair: (naming_rank(pair[1], wanted, subject), pair[0]))
            return [hit, *(h for h in hits if h.id != hit.id)][:k]
        for hit in pool:
            if any(defines(sentence, wanted) for sentence in sentences_of(hit.passage.content)):
                return [hit, *(h for h in hits if h.id != hit.id)][:k]
        return hits

    async def _task_first(
        self, question: Question, hits: list[Fused], k: int, flt: SearchFilter, preference: Preference | None
    ) -> list[Fused]:
        """The section the book titles with the task ("6 Source the overlay" for "how do I source the
        overlay?"), first: a tutorial's step says in its heading what it does, while its text and code may
        use none of the question's words."""
        titled = await self.retrieval.named_sections(question.terms, question.text, flt, preference)
        if not titled:
            return hits
        found = {h.id for h in hits}
        # The heading as the student wrote the task ("Launch talker node"), then one the search found too.
        task = _written(question.text)
        top = min(titled, key=lambda t: (not _ends_with(task, _written(t.passage.section or "")), t.id not in found))
        # A step often runs over several chunks, its commands after the prose that opens it.
        steps = [top, *await self.retrieval.rest_of_section(top, SECTION_CHUNKS - 1)]
        chosen = {h.id for h in steps}
        return [*steps, *(h for h in hits if h.id not in chosen)][:k]

    async def _search(
        self, question: Question, k: int, flt: SearchFilter, preference: Preference | None = None
    ) -> tuple[list[Fused], float, Question]:
        first = await self.retrieval.search(question.text, k + ANSWER_EXTRA, flt, ANSWER_PER_SOURCE, preference)
        if first.evidence >= self.threshold:
            return for_answer(question, first.hits)[:k], first.evidence, question
        alternative = reformulate(question)
        if alternative is None:
            return first.hits, first.evidence, question
        second = await self.retrieval.search(alternative, k + ANSWER_EXTRA, flt, ANSWER_PER_SOURCE, preference)
        if second.evidence > first.evidence:
            keywords = Question.parse(alternative)
            return for_answer(keywords, second.hits)[:k], second.evidence, keywords
        return for_answer(question, first.hits)[:k], first.evidence, question
