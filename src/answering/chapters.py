"""Questions about the chapter the reader is on ("what does this chapter cover?", "summarize this
chapter", "what will I learn here?"): answered from the chapter's own overview, learning objectives and
key takeaways, in that order, with their lists shown whole. The chapter is the reader's `page` (its
source file, or the page whose URL it is); only its passages are read."""

from __future__ import annotations

import re

from src.answering.citations import Composed
from src.answering.extractive import Picked, cited
from src.answering.showing import Shown, lead_sentence
from src.kit.text import sentences_of
from src.retrieval.blocks import blocks_of
from src.retrieval.fusion import Fused

# "This chapter", "this page", "the current section": the page the reader is on.
THIS_PAGE = re.compile(
    r"\b(this|the current|current|that) (chapter|page|section|lesson|article|part of the book)\b", re.I
)
_ASKS_OVERVIEW = re.compile(
    r"\b(covers?|covered|about|summar\w*|overview|objectives?|learn|takeaways?|main (?:points?|ideas?|topics?)"
    r"|teach\w*|goals?|go(?:es)? over|outline)\b",
    re.I,
)
# The sections a textbook's chapter says what it is about in, best first.
_OVERVIEW = re.compile(r"^(?:\d+(?:\.\d+)*\.?\s+)?(overview|introduction|in this chapter|chapter overview)$", re.I)
_OBJECTIVES = re.compile(
    r"^(?:\d+(?:\.\d+)*\.?\s+)?(learning (?:objectives|outcomes|goals)|objectives|goals|what you(?:'|’)?ll learn)$",
    re.I,
)
_TAKEAWAYS = re.compile(
    r"^(?:\d+(?:\.\d+)*\.?\s+)?(key (?:takeaways|points|concepts|ideas)|summary|chapter summary)$", re.I
)
OVERVIEW_SENTENCES = 2
OVERVIEW_QUERY = "overview learning objectives key takeaways summary"  # what a chapter's own outline is found by


def asks_about_page(question: str) -> bool:
    return THIS_PAGE.search(question) is not None


def asks_overview(question: str) -> bool:
    """A question about the page as a whole: what it covers, its summary, what it teaches."""
    return asks_about_page(question) and _ASKS_OVERVIEW.search(question) is not None


def page_source(page: str) -> str | None:
    """The source file a page names, when it is one (a URL is not)."""
    return None if "://" in page or page.startswith("/") else page


def chapter_overview(hits: list[Fused]) -> Composed | None:
    """The chapter's overview (its first sentences), then its learning objectives' list, or else its key
    takeaways' list, each cited; None when the chapter has none of these sections."""
    ranked = sorted(range(len(hits)), key=lambda r: hits[r].passage.position or 0)
    pieces: list[Picked | Shown] = []
    overview = next((r for r in ranked if _OVERVIEW.match(hits[r].passage.section or "")), None)
    if overview is not None:
        for order, sentence in enumerate(sentences_of(hits[overview].passage.content)[:OVERVIEW_SENTENCES]):
            if not sentence.rstrip().endswith(":"):
                pieces.append(Picked(overview, order, sentence, 1.0, 1.0))
    for pattern in (_OBJECTIVES, _TAKEAWAYS):
        listed = _first_list(hits, ranked, pattern)
        if listed is not None:
            pieces.append(listed)
            break
    return cited(pieces, hits) if pieces else None


def _first_list(hits: list[Fused], ranked: list[int], pattern: re.Pattern[str]) -> Shown | None:
    for rank in ranked:
        if pattern.match(hits[rank].passage.section or ""):
            for block in blocks_of(hits[rank].passage.content):
                if block.kind == "list":
                    return Shown(rank, block, lead_sentence(block))
    return None
