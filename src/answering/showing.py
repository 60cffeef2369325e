"""What an answer shows of the book besides its sentences: the command or code a "how do I ...?" question
asks for, the list or table a sentence announces with its colon, the comparison table a "compare X and
Y" question asks for, a figure whose alt text or caption is what the question asks about. Each block is
quoted whole from one passage (a long list or table cut, saying how much more the section holds) and
carries that passage's citation.

Everything here reads the passages' stored text through `retrieval.blocks`; nothing is generated."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal
from urllib.parse import urljoin, urlsplit

from pydantic import BaseModel, Field

from src.kit.linear import LinearPattern
from src.kit.text import sentences_of, terms
from src.retrieval.blocks import SHOWN_KINDS, Block, blocks_of
from src.retrieval.fusion import Fused
from src.retrieval.outline import titles
from src.retrieval.passage import Passage

MAX_LIST_ITEMS = 8
MAX_TABLE_ROWS = 10
MAX_CODE_LINES = 40
MAX_LEAD_CHARS = 300
TASK_MATCH = 0.5  # a block answers "how do I ...?" when it holds this share of the question's weight
TASK_HEADING_WEIGHT = 0.5  # a word found only in the section's heading counts this share
SHELL = frozenset({"bash", "sh", "shell", "console", "shell-session", "zsh", "powershell", "ps1", "bat", "cmd", "text"})
SHELL_BONUS = 0.1  # a "how do I" question is asked of a command more often than of a program
RANK_COST = 0.1  # a passage the search ranked lower must hold a better block
ORDER_COST = 0.03  # a later block of a passage must match better: a book shows the command, then its output
MAX_TASK_BLOCKS = 3  # the steps of a section that is the task: its first code blocks
GROUP_MIN_LINES = 12  # a longer code block made of commented groups shows only the group that does the task

# "How do I ...", "how can I ...", "how to ...", "what command ...": a task, answered by what the book runs.
_HOW_TO = LinearPattern(
    "|".join(
        (
            r"^\s*(?:so |and |ok |okay |but )?how (?:do|can|should|would|could|will|might|shall) (?:i|you|we|one)\b",
            r"^\s*(?:so |and |ok |okay |but )?how to\b",
            r"\b(?:what|which) (?:command|commands|cli|code|syntax|flag|flags|option|options)\b",
            r"\b(?:command|commands|code|syntax) (?:to|for)\b",
            r"\bshow me (?:how|the command|the code)\b",
        )
    ),
    ignore_case=True,
)
_COMPARE = LinearPattern(
    r"\b(?:compare|compared|comparison|comparing|differ|differs|difference|differences|versus|vs\.?|contrast)\b",
    ignore_case=True,
)
_COMMENT = re.compile(r"^\s*(?:#|//|--|;|rem\b)\s*(.*)$", re.I)


def asks_how_to(text: str) -> bool:
    return _HOW_TO.search(text) is not None


def asks_comparison(text: str) -> bool:
    return _COMPARE.search(text) is not None


ShownKind = Literal["code", "list", "table", "math", "figure"]


class AnswerBlock(BaseModel):
    """A block of the book an answer shows whole, as `answer` holds it (a segment of its own)."""

    kind: ShownKind = Field(description="code, list, table, math or figure")
    markdown: str = Field(description="The block exactly as it stands in `answer`, between blank lines")
    citation: int = Field(description="The n of the citation [n] the block is quoted from")
    language: str | None = Field(default=None, description="code: the language its fence names")
    text: str = Field(default="", description="code: the code, without fences; math: the TeX source")
    items: list[str] = Field(default_factory=list, description="list: the items shown, as plain text")
    ordered: bool = False
    more: int = Field(default=0, description="list, table, code: how many items, rows or lines were left out")
    header: list[str] = Field(default_factory=list, description="table: the header's cells")
    rows: list[list[str]] = Field(default_factory=list, description="table: the rows shown")
    alt: str = Field(default="", description="figure: its alt text")
    caption: str = ""
    src: str | None = Field(default=None, description="figure: the image's URL on the book's site, when known")
    url: str | None = Field(default=None, description="The section's link")


@dataclass(frozen=True)
class Shown:
    """A block an answer shows, from the passage at `rank`, with the book's sentence that introduces it."""

    rank: int
    block: Block
    lead: str | None = None
    lines: tuple[int, int] | None = None  # code: the lines shown, when only one commented group is

    def answer_block(self, n: int, url: str | None) -> AnswerBlock:
        return render(self, n, url)


def lead_sentence(block: Block) -> str | None:
    """The sentence right before a block that introduces it (the last of the paragraph before it)."""
    if not block.lead:
        return None
    sentences = sentences_of(block.lead)
    last = sentences[-1] if sentences else None
    return last if last and len(last) <= MAX_LEAD_CHARS else None


def announced(content: str, sentence: str) -> Block | None:
    """The block a sentence ending in ':' introduces: the one right after the paragraph it ends."""
    for block in blocks_of(content):
        if block.kind in SHOWN_KINDS and block.lead and sentence == lead_sentence(block):
            return block
    return None


def block_sentences(content: str, block: Block) -> set[str]:
    """The sentences the composer reads from a block (a list's items, a table's rows, a code block's
    comments): an answer that shows the block does not say them again."""
    return set(sentences_of(block.source))


def _weight(question_terms: tuple[str, ...], weights: dict[str, float] | None) -> dict[str, float]:
    return {t: (weights or {}).get(t, 1.0) for t in set(question_terms)}


def _share(held: set[str], heading: set[str], weight: dict[str, float]) -> float:
    total = sum(weight.values()) or 1.0
    direct = sum(w for t, w in weight.items() if t in held)
    from_heading = sum(w for t, w in weight.items() if t in heading and t not in held)
    return (direct + TASK_HEADING_WEIGHT * from_heading) / total


def _groups(code: str) -> list[tuple[int, int, str]]:
    """A code block's commented groups: (first line, end line, the comment that opens it)."""
    lines = code.split("\n")
    starts = [i for i, line in enumerate(lines) if (m := _COMMENT.match(line)) and m.group(1).strip()]
    groups: list[tuple[int, int, str]] = []
    for k, start in enumerate(starts):
        end = starts[k + 1] if k + 1 < len(starts) else len(lines)
        while end > start + 1 and not lines[end - 1].strip():
            end -= 1
        comment = _COMMENT.match(lines[start])
        if end > start + 1 and comment:
            groups.append((start, end, comment.group(1)))
    return groups


def task_block(question_terms: tuple[str, ...], hits: list[Fused], weights: dict[str, float] | None) -> Shown | None:
    """The code block that does what a "how do I ...?" question asks, from the passages found: the block
    whose introducing sentence, comments, code and section heading hold most of the question's weight
    (a shell block and a passage ranked higher preferred); None when no block holds enough of it."""
    weight = _weight(question_terms, weights)
    if not weight:
        return None
    best: tuple[float, Shown] | None = None
    for rank, hit in enumerate(hits):
        if hit.passage.kind != "book":
            continue
        heading = set(terms(" ".join(hit.passage.heading_path) or hit.passage.section or ""))
        # A section the task titles ("Generating the Docker Image") is the task: its heading counts in full.
        titled = titles(hit.passage.section, question_terms)
        blocks = blocks_of(hit.passage.content)
        for k, block in enumerate(blocks):
            if block.kind != "code" or not block.text.strip():
                continue
            lead = lead_sentence(block)
            # The sentence right after a block often says what it did ("... returns the active topics").
            after = blocks[k + 1] if k + 1 < len(blocks) and blocks[k + 1].kind == "paragraph" else None
            said_after = (sentences_of(after.source) or [""])[0] if after else ""
            held = set(terms(f"{lead or ''}\n{block.text}\n{said_after}")) | (heading if titled else set())
            score = _share(held, heading, weight) + (SHELL_BONUS if (block.language or "text") in SHELL else 0.0)
            score -= RANK_COST * rank + ORDER_COST * sum(b.kind == "code" for b in blocks[:k])
            shown = Shown(rank, block, lead)
            lines = block.text.count("\n") + 1
            if lines >= GROUP_MIN_LINES:
                group = _best_group(block, weight, heading)
                if group is not None:
                    shown = Shown(rank, block, lead, group)
            if best is None or score > best[0]:
                best = (score, shown)
    if best is None or best[0] < TASK_MATCH:
        return None
    return best[1]


def task_blocks(question_terms: tuple[str, ...], hits: list[Fused], weights: dict[str, float] | None) -> list[Shown]:
    """What a "how do I ...?" answer shows, in the book's order: the block that does the task
    (`task_block`), and when its section's heading names the task, the section's steps: its first code
    blocks (up to MAX_TASK_BLOCKS, the best one among them), each with the sentence that introduces it."""
    best = task_block(question_terms, hits, weights)
    if best is None:
        return []
    passage = hits[best.rank].passage
    # The section's chunks among the passages found, in the book's order: a step's commands may follow
    # the prose that opens it in the next chunk.
    section = sorted(
        (rank for rank, hit in enumerate(hits) if _same_section(hit.passage, passage)),
        key=lambda rank: hits[rank].passage.position or 0,
    )
    code: list[tuple[int, Block]] = []
    for rank in section:
        for b in blocks_of(hits[rank].passage.content):
            # A block the section repeats (the same command under each system's tab) is shown once.
            if b.kind == "code" and b.text.strip() and all(b.text != seen.text for _, seen in code):
                code.append((rank, b))
    heading = set(terms(passage.section or ""))
    weight = _weight(question_terms, weights)
    if len(code) < 2 or _share(heading, set(), weight) < TASK_MATCH:
        return [best]
    # The section is the task: its steps in the book's order, the one that matches best among them.
    steps = code[:MAX_TASK_BLOCKS]
    if all(best.block.text != block.text for _, block in steps):
        steps = [*steps[: MAX_TASK_BLOCKS - 1], (best.rank, best.block)]
    return [
        best if block.text == best.block.text else Shown(rank, block, lead_sentence(block)) for rank, block in steps
    ]


def _same_section(one: Passage, other: Passage) -> bool:
    return one.kind == other.kind == "book" and (one.source_file, one.heading_path, one.section) == (
        other.source_file,
        other.heading_path,
        other.section,
    )


def _best_group(block: Block, weight: dict[str, float], heading: set[str]) -> tuple[int, int] | None:
    """The one commented group of a long code block that does the task, when one clearly does."""
    lines = block.text.split("\n")
    scored = []
    for start, end, comment in _groups(block.text):
        held = set(terms(comment + "\n" + "\n".join(lines[start:end])))
        scored.append((_share(held, set(), weight), start, end))
    if not scored:
        return None
    scored.sort(reverse=True)
    top = scored[0]
    if top[0] >= TASK_MATCH and (len(scored) == 1 or top[0] > scored[1][0]):
        return top[1], top[2]
    return None


def comparison_table(question_terms: tuple[str, ...], hits: list[Fused]) -> Shown | None:
    """The book's table that compares what the question names: a table whose header or first column holds
    two or more of the question's words, from the highest-ranked passage that has one."""
    wanted = set(question_terms)
    for rank, hit in enumerate(hits):
        if hit.passage.kind != "book":
            continue
        for block in blocks_of(hit.passage.content):
            if block.kind != "table" or not block.rows:
                continue
            names = set(terms(" ".join(block.header) + " " + " ".join(r[0] for r in block.rows if r)))
            if len(wanted & names) >= 2:
                return Shown(rank, block, lead_sentence(block))
    return None


def figure_for(question_terms: tuple[str, ...], hits: list[Fused], ranks: list[int]) -> Shown | None:
    """A figure of a quoted passage whose alt text or caption holds most of the question's words."""
    wanted = set(question_terms)
    if len(wanted) < 2:
        return None
    for rank in ranks:
        hit = hits[rank]
        for block in blocks_of(hit.passage.content):
            if block.kind == "figure" and block.alt:
                held = set(terms(f"{block.alt} {block.caption}"))
                if len(wanted & held) * 2 >= len(wanted):
                    return Shown(rank, block)
    return None


def figure_src(src: str, page_url: str | None) -> str | None:
    """The image's URL on the book's own site: a path relative to the page, or from the site's root; an
    absolute URL only on the page's own origin. None when it cannot be known."""
    if not src or src.startswith(("data:", "javascript:", "//")):
        return None
    scheme = urlsplit(src).scheme
    if scheme:
        if not page_url or scheme not in ("http", "https"):
            return None
        page = urlsplit(page_url)
        return src if urlsplit(src).netloc == page.netloc and page.netloc else None
    if not page_url:
        return None
    return urljoin(page_url.split("#", 1)[0], src)


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def render(shown: Shown, n: int, url: str | None) -> AnswerBlock:
    """The block as an answer shows it: its Markdown (cut where long) and its fields."""
    block = shown.block
    assert block.kind != "paragraph", "a paragraph is said as sentences, never shown as a block"
    base = AnswerBlock(kind=block.kind, markdown="", citation=n, url=url)
    if block.kind == "code":
        lines = block.text.split("\n")
        start, end = shown.lines or (0, len(lines))
        kept = lines[start:end][:MAX_CODE_LINES]
        more = len(lines) - len(kept)
        code = "\n".join(kept)
        fence = "~~~" if "```" in code else "```"
        markdown = f"{fence}{block.language or ''}\n{code}\n{fence}"
        return base.model_copy(update={"markdown": markdown, "language": block.language, "text": code, "more": more})
    if block.kind == "list":
        items = list(block.items[:MAX_LIST_ITEMS])
        more = len(block.items) - len(items)
        marks = [f"{i + 1}." if block.ordered else "-" for i in range(len(items))]
        lines = [f"{m} {item}" for m, item in zip(marks, items, strict=True)]
        if more:
            lines.append(f"- … and {more} more")
        return base.model_copy(
            update={"markdown": "\n".join(lines), "items": items, "ordered": block.ordered, "more": more}
        )
    if block.kind == "table":
        rows = [list(r) for r in block.rows[:MAX_TABLE_ROWS]]
        width = len(block.header)
        rows = [(r + [""] * width)[:width] for r in rows]
        lines = ["| " + " | ".join(_cell(c) for c in block.header) + " |", "|" + " --- |" * width]
        lines += ["| " + " | ".join(_cell(c) for c in r) + " |" for r in rows]
        more = len(block.rows) - len(rows)
        return base.model_copy(
            update={"markdown": "\n".join(lines), "header": list(block.header), "rows": rows, "more": more}
        )
    if block.kind == "math":
        return base.model_copy(update={"markdown": f"$$\n{block.text}\n$$", "text": block.text})
    src = figure_src(block.src, url)
    alt = block.alt or block.caption or "Figure"
    markdown = f"![{alt.replace(']', '')}]({src})" if src else f"*Figure: {alt}*"
    if block.caption and block.caption != block.alt:
        markdown += f"\n*{block.caption}*"
    return base.model_copy(update={"markdown": markdown, "alt": block.alt, "caption": block.caption, "src": src})
