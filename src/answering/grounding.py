"""The grounding checker: every sentence a model writes must cite a passage it was shown and be
supported by it. A sentence is supported when most of its content words appear in one sentence of
the cited passage (or two adjacent ones) and every number in it appears in the passage; its quote is
the passage sentence closest to it. A sentence without a citation is attributed to the passage that
supports it best, if one does. Unsupported sentences and anything carrying the canary are removed."""

from __future__ import annotations

import re
from dataclasses import dataclass

from src.answering.citations import marks, unmarked
from src.answering.guardrails import is_planted_instruction, strip_foreign_links
from src.answering.prompt import CANARY
from src.kit.linear import LinearPattern
from src.kit.text import clean_sentence, sentences_of, terms

MIN_SUPPORT = 0.7
MIN_WORDS = 5
_NUMBER = re.compile(r"\b\d+(?:[.,]\d+)?\b")
# A finished sentence. With its citation ("zero [1]. ", "zero. [1] ", "[1, 3]"), it ends at the whitespace after
# it, at once: a model may pause there. With none yet ("zero. "), it ends once the next sentence has begun
# with a character that is not a lower-case letter ("e.g. the", "panic! signals" go on) and not a citation
# still coming, so a citation after the period stays with its sentence, whatever the stream's chunks. The
# match takes that one whitespace or first character (RE2 has no lookahead). RE2: under `re`, a run of
# spaces or of "[1] [1] ..." without a period was read to its end from each of its characters.
_CITATION = r"\[\d+(?:\s*[,;]\s*\d+)*\]"
_SENTENCE_END = LinearPattern(
    rf"(?:(?:\s*{_CITATION})+\s*[.!?]|[.!?](?:\s*{_CITATION})+)(?:\s|\p{{Z}})"
    rf"|[.!?](?:\s|\p{{Z}})+[^\s\p{{Z}}\[\p{{Ll}}]"
)
# Abbreviations a sentence does not end at, though a capital may follow ("e.g. ROS 2", "Fig. 3").
_ABBREVIATION = re.compile(r"(?:^|[\s(])(?:e\.g|i\.e|etc|vs|cf|fig|figs|eq|no|approx|ch|sec)\.$", re.I)


@dataclass(frozen=True)
class Checked:
    text: str  # the sentence as shown to the student, citations at its end
    cited: tuple[int, ...]
    quotes: dict[int, str]  # passage number -> the passage sentence that supports it
    supported: bool
    reason: str = ""


def split_finished(buffer: str) -> tuple[list[str], str]:
    """Finished sentences at the start of `buffer`, and the unfinished rest."""
    done: list[str] = []
    start = 0
    for match in _SENTENCE_END.finditer(buffer):
        end = match.end() - 1  # the whitespace after a sentence, or the next one's first character, is the next one's
        piece = buffer[start:end].strip()
        if not piece or _ABBREVIATION.search(piece):
            continue
        done.append(piece)
        start = end
    return done, buffer[start:]


def _support(sentence_terms: set[str], numbers: set[str], passage: str) -> tuple[float, str]:
    """The share of the sentence's content words found in one sentence of the passage (or two
    adjacent ones), for the best such window, and that passage sentence as the quote. Words picked
    from all over a passage do not add up to support."""
    if numbers and not all(n in passage for n in numbers):
        return 0.0, ""
    sentences = sentences_of(passage) or [passage]
    shared = [
        sentence_terms & set(terms(candidate)) for candidate in sentences
    ]  # each passage sentence's words in common
    best, best_own, quote = 0.0, 0, ""
    for i, candidate in enumerate(sentences):
        window = shared[i] | shared[i + 1] if i + 1 < len(sentences) else shared[i]
        share = len(window) / max(1, len(sentence_terms))
        if share > best or (share == best and quote and len(shared[i]) > best_own):
            best, best_own, quote = share, len(shared[i]), candidate
    return best, quote


def check_sentence(sentence: str, shown: dict[int, str], allowed_urls: set[str], question: str = "") -> Checked:
    """Whether the model's `sentence` may be shown; `question` (when given) must share a word with it."""
    cited = tuple(dict.fromkeys(marks(sentence)))
    # The space a removed mark leaves before its period goes; " .gitignore" keeps its space.
    body = re.sub(r"\s+([.!?,;:])(?=\s|$)", r"\1", clean_sentence(unmarked(sentence))).strip()
    body = strip_foreign_links(body, allowed_urls).strip()
    if CANARY.lower() in sentence.lower() or "canary-" in sentence.lower():
        return Checked(body, cited, {}, False, "canary")
    if not body or not re.search(r"[A-Za-z]{2}", body):
        return Checked(body, cited, {}, False, "empty")
    if is_planted_instruction(body):
        return Checked(body, cited, {}, False, "instruction")
    if len(body.split()) < MIN_WORDS or re.search(r"[,;:]\s*[.!?]?$", body):
        return Checked(body, cited, {}, False, "fragment")
    content = set(terms(body))
    numbers = set(_NUMBER.findall(body))
    # A sentence that shares no word with the question is not about it, however well the book supports
    # it (a small model copying an unrelated line, or a line planted in the passage).
    if question and not content & set(terms(question)):
        return Checked(body, cited, {}, False, "off-topic")
    if not cited:
        # A small model often forgets the marks: the sentence is attributed to the one passage that
        # supports it best, if any does; otherwise it goes.
        scored = [(_support(content, numbers, text), n) for n, text in shown.items()]
        (share, quote), n = max(scored, default=((0.0, ""), 0), key=lambda item: item[0][0])
        if share < MIN_SUPPORT or not quote:
            return Checked(body, cited, {}, False, "uncited")
        return Checked(f"{body if body[-1] in '.!?' else body + '.'} [{n}]", (n,), {n: quote}, True, "attributed")
    quotes: dict[int, str] = {}
    best = 0.0
    for n in cited:
        if n not in shown:
            continue
        share, quote = _support(content, numbers, shown[n])
        if share >= MIN_SUPPORT and quote:
            quotes[n] = quote
        best = max(best, share)
    if not quotes:
        return Checked(body, cited, {}, False, f"unsupported ({best:.2f})")
    if body[-1] not in ".!?":
        body += "."
    cited_marks = " ".join(f"[{n}]" for n in quotes)
    return Checked(f"{body} {cited_marks}", tuple(quotes), quotes, True)
