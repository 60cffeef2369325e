"""The text toolkit every part of the service reads prose with: content words (stemmed, without
stopwords), cleaned sentences, and a passage's prose sentences (code, tables and formulas left out)."""

from __future__ import annotations

import re

_WORD = re.compile(r"[a-z0-9][a-z0-9+#'-]*")
_SENTENCE_SPLIT = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"'(\[*`])")
_MARKUP = re.compile(r"(\*\*|__|`|^#+\s*|^\s*[-*+]\s+|^\s*\d+[.)]\s+|^>\s*)", re.M)
_LINK = re.compile(r"\[([^\]]+)\]\([^)]*\)")
_LIST_ITEM = re.compile(r"^\s*([-*+]|\d+[.)])\s+")

# Function words, and the verbs of asking ("explain", "describe", "mean") that say nothing about a topic.
STOPWORDS = frozenset(
    """
    a an the and or but if of to in on at by for with from into about as is are was were be been being
    do does did done have has had having it its this that these those there here what which who whom
    whose when where why how can could should would will shall may might must not no nor so than too
    very just also only i me my we our you your he she they them their his her him us any some such each
    other more most own same both all few between through during before after above below up down out
    off over under again further then once use used using one two get gets got make makes made like vs
    versus explain describe tell mean means
    """.split()
)
_SUFFIXES = ("ations", "ation", "ings", "ing", "ies", "ied", "ers", "er", "es", "ed", "ly", "s")


def stem(word: str) -> str:
    for suffix in _SUFFIXES:
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            return word[: -len(suffix)] + ("y" if suffix in {"ies", "ied"} else "")
    return word


def terms(text: str) -> list[str]:
    """The content words of `text`, lower-cased and stemmed, in order (repeats kept)."""
    return [stem(w.strip("'-")) for w in _WORD.findall(text.lower()) if w not in STOPWORDS and len(w) > 1]


def clean_sentence(text: str) -> str:
    """`text` without Markdown links, emphasis, list bullets or heading marks, on one line."""
    text = _LINK.sub(r"\1", text)
    text = _MARKUP.sub("", text)
    return " ".join(text.split())


def sentences_of(content: str) -> list[str]:
    """Prose sentences of a passage; code blocks, tables and formulas are not sentences."""
    out: list[str] = []
    in_fence = False
    paragraph: list[str] = []

    def flush() -> None:
        if paragraph:
            for s in _SENTENCE_SPLIT.split(" ".join(paragraph)):
                s = clean_sentence(s)
                # A lead-in to a list or code ("...as follows:") says nothing by itself.
                if len(s) >= 20 and re.search(r"[A-Za-z]{3}", s) and not s.endswith(":"):
                    out.append(s)
            paragraph.clear()

    for line in content.split("\n"):
        stripped = line.strip()
        if stripped.startswith(("```", "~~~")):
            in_fence = not in_fence
            flush()
            continue
        if in_fence or stripped.startswith(("|", "$$", "<")) or not stripped:
            flush()
            continue
        if _LIST_ITEM.match(line):
            flush()  # a list item starts a paragraph of its own; indented lines after it continue it
        paragraph.append(stripped)
    flush()
    return out
