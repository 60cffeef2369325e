"""Whether the book covers what a question asks about, judged by the book's own words: the specific
names in the question (products, versions, code identifiers, proper names) that the book never
mentions, and how much of the question's weight a passage holds (its words weighted by rarity, so
that sharing "robot" with a question says little and sharing "Unitree" would say a lot)."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from src.kit.text import STOPWORDS, terms

# Words a question may capitalise that name nothing: question words, sentence starts, pronouns.
_COMMON_CAPITALISED = frozenset(
    """
    what which who whom whose when where why how is are was were do does did can could should would will shall may might
    must the a an in on at of for to and or but if so i i'm i've i'd ok okay hey hi hello please thanks also and then
    tell give show explain describe define compare list name say write make let help yes no not just really actually
    in-book book chapter section page
    """.split()
)
# A name's token, not a word (`kit.text.words`): it keeps what names are spelt with inside it ("24.04",
# "std::mem", "ROS2/Jazzy") and never ends on punctuation.
_TOKEN = re.compile(r"[A-Za-z0-9][A-Za-z0-9+#._:'’/-]*[A-Za-z0-9+#]|[A-Za-z0-9]")
_CODEY = re.compile(r"[_:]|[a-z][A-Z]|\(\)|\.[a-z]")  # par_iter, std::mem, camelCase, fn(), .await
_HAS_DIGIT = re.compile(r"\d")
_ACRONYM = re.compile(r"^[A-Z][A-Z0-9]{1,7}s?$")
# A lowercase word is a name when the question uses it like one: "with egui", "rayon's", "use anyhow".
# A name before "'s" is read up to 63 characters from each word start: unbounded, a run of "a-a-a-..."
# (every letter a word start) was read to its end from each one.
_NAME_SLOT = re.compile(
    r"\b(?:with|using|use|via|vs\.?|versus)\s+([a-z][a-z0-9-]{2,})\b(?!\s+(?:the|a|an)\b)|\b([a-z][a-z0-9-]{2,62})'s\b"
)


@dataclass(frozen=True)
class Specific:
    text: str  # as the student wrote it ("Unitree G1")
    words: tuple[str, ...]


def _name_like(token: str, first: bool) -> bool:
    bare = token.strip("'’").removesuffix("'s").removesuffix("’s")
    if not bare or bare.lower() in _COMMON_CAPITALISED or bare.lower() in STOPWORDS:
        return False
    if _CODEY.search(bare) or (_HAS_DIGIT.search(bare) and re.search(r"[A-Za-z]", bare)):
        return True
    if _ACRONYM.match(bare):
        return True
    return bare[0].isupper() and not first


def specific_terms(question: str) -> list[Specific]:
    """Names in the question: runs of name-like tokens ("Unitree G1", "ROS 2 Jazzy", "RT-2", "par_iter",
    "ubuntu 24.04"), plus lowercase words used as names ("with egui", "rayon's")."""
    # Code in backticks names what the student wrote (a quiz's own functions), not something to look up.
    question = re.sub(r"`[^`]*`", " . ", question)
    tokens = list(_TOKEN.finditer(question))
    out: list[Specific] = []
    run: list[str] = []

    def close() -> None:
        if run and (len(run) > 1 or not run[0].isdigit()):
            out.append(Specific(" ".join(run), tuple(run)))
        run.clear()

    for i, match in enumerate(tokens):
        if i and question[tokens[i - 1].end() : match.start()].strip():
            close()  # punctuation between two words ends a name: "Unitree G1, Figure 02"
        token = match.group(0).rstrip(".")
        # What stands before a token is the gap after the one before it (a token never ends in these marks):
        # the whole question before each token would be read once per token.
        first = i == 0 or question[tokens[i - 1].end() : match.start()].rstrip().endswith((".", "?", "!", ":", '"'))
        numbered = (
            bool(run) and run[0][:1].isupper() and re.fullmatch(r"\d+(\.\d+)*", token) is not None
        )  # "Figure 02", "ROS 2"
        if _name_like(token, first) or numbered:
            run.append(token.removesuffix("'s").removesuffix("’s"))
        else:
            close()
    close()
    seen = {s.text.lower() for s in out}
    for match in _NAME_SLOT.finditer(question):
        word = match.group(1) or match.group(2)
        if word and word not in STOPWORDS and word.lower() not in seen and terms(word):
            out.append(Specific(word, (word,)))
            seen.add(word.lower())
    return out


def unmentioned(specifics: list[Specific], count: Callable[[str], int], mentions: Callable[[str], bool]) -> list[str]:
    """The specific names the book never mentions: one of its words is in no chunk, or (for a name of
    several words with a number or code in it, "Figure 02", "Rust 2027") the words never stand together."""
    missing = []
    for specific in specifics:
        words = [w for w in specific.words if w.lower() not in STOPWORDS]
        if any(count(w) == 0 for w in words) or (
            len(words) > 1
            and any(_HAS_DIGIT.search(w) or _CODEY.search(w) for w in words)
            and not mentions(specific.text)
        ):
            missing.append(specific.text)
    return missing


def weighted_coverage(question_terms: list[str], passage_terms: set[str], weight: Callable[[str], float]) -> float:
    """The share of the question's weight (its words, by rarity in the book) that the passage holds."""
    unique = list(dict.fromkeys(question_terms))
    if not unique:
        return 0.0
    weights = {t: weight(t) for t in unique}
    total = sum(weights.values())
    return sum(w for t, w in weights.items() if t in passage_terms) / total if total else 0.0
