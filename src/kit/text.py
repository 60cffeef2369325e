"""The text toolkit every part of the service reads prose with: content words (stemmed, without
stopwords), cleaned sentences, and a passage's prose sentences (code, tables and formulas left out)."""

from __future__ import annotations

import re

import Stemmer

# Every pattern here reads text from outside (a student's question or selection, a book's passages) and
# is linear in it under `re`: each scans from a start it cannot revisit (a word, a bracket, a line's
# start), and no two adjacent parts can both take the same characters. A link's text and target stop at
# the next bracket, a bullet's indent at the end of its line, and a comment's text at its first
# lowercase letter, so a run of "[", of blank lines or of "#" costs its length, not its square.
_WORD = re.compile(r"[a-z0-9][a-z0-9+#'-]*")
_WRITTEN_WORD = re.compile(r"[A-Za-z0-9][A-Za-z0-9+#'_-]*")
_SENTENCE_SPLIT = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"'(\[*`])")
_MARKUP = re.compile(r"(\*\*|__|`|^#+\s*|^[^\S\n]*[-*+]\s+|^[^\S\n]*\d+[.)]\s+|^>\s*)", re.M)
_LINK = re.compile(r"\[([^\[\]]+)\]\([^)\[\]]*\)")
_LIST_ITEM = re.compile(r"^\s*([-*+]|\d+[.)])\s+")
_CODE_COMMENT = re.compile(r"^(?:#|//)\s*(?P<text>[A-Z][^=(){};a-z]*[a-z][^=;{}]*)$")
# A book's sentences are shorter than this; a longer run (a selection without a period, a pasted log) is
# read in pieces of at most this length, so no sentence-level check ever reads more at once.
MAX_SENTENCE_CHARS = 1000

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
    what's whats how's hows why's where's who's it's that's there's isn't aren't doesn't don't didn't can't cannot
    won't wouldn't shouldn't couldn't i've i'm i'd you're they're we're let's tho though dont doesnt isnt arent cant wont
    didnt im ive youre theyre lets
    """.split()
)
_HYPHENATED = re.compile(r"^[a-z]{2,}(?:-[a-z]{2,})+$")  # "rgb-trained", "gpu-accelerated"; not "50-1000hz"
# A name and its version number, written apart or together: "ROS 2" and "ROS2", "Python 3" and "Python3".
_NAME_NUMBER = re.compile(r"^([a-z]{2,})([0-9]{1,2})$")
_STEMMER = Stemmer.Stemmer("english")  # Snowball's English (Porter 2), the stemmer search engines use


def stem(word: str) -> str:
    """A word's Snowball stem ("topics" and "topic": "topic"; "degrees": "degre"). A possessive is its noun."""
    return str(_STEMMER.stemWord(word.removesuffix("'s")))


def terms(text: str) -> list[str]:
    """The content words of `text`, lower-cased and stemmed, in order (repeats kept). A hyphenated word
    counts as its parts as well ("rgb-trained": "rgb-train", "rgb", "train"), and a name with its version
    number is one word whether written apart or together ("ROS 2" and "ROS2": "ros2")."""
    lowered = text.lower()
    found = [(m.group().strip("'-"), m.start(), m.end()) for m in _WORD.finditer(lowered)]
    out: list[str] = []
    skip = False
    for i, (word, _, end) in enumerate(found):
        if skip:
            skip = False
            continue
        if word in STOPWORDS or len(word) < 2:
            continue
        if i + 1 < len(found) and word.isalpha() and _versioned(lowered, end, found[i + 1]):
            out.append(word + found[i + 1][0])  # "ros 2" is "ros2"
            skip = True
            continue
        out.append(word if _NAME_NUMBER.match(word) else stem(word))
        if _HYPHENATED.match(word):
            out.extend(stem(part) for part in word.split("-") if part not in STOPWORDS)
    return out


def _versioned(text: str, end: int, following: tuple[str, int, int]) -> bool:
    """Whether the word ending at `end` is followed by a space and its version number (1 or 2 digits, not
    the first part of a decimal such as "22.04")."""
    number, start, stop = following
    return (
        start == end + 1
        and text[end] == " "
        and number.isdigit()
        and len(number) <= 2
        and not (text[stop : stop + 1] == "." and text[stop + 1 : stop + 2].isdigit())
    )


def words(text: str) -> list[str]:
    """The words of `text` as written (case kept, not stemmed, stopwords kept): "ROS2's", "par_iter", "C++"."""
    return _WRITTEN_WORD.findall(text)


def bounded(sentence: str, limit: int = MAX_SENTENCE_CHARS) -> list[str]:
    """`sentence` as it is, or cut into pieces of at most `limit` characters, at a space where there is one."""
    if len(sentence) <= limit:
        return [sentence] if sentence else []
    pieces: list[str] = []
    start, end = 0, len(sentence)
    while start < end:
        if end - start <= limit:
            cut = end
        else:
            space = sentence.rfind(" ", start + 1, start + limit + 1)
            cut = space if space > 0 else start + limit
        piece = sentence[start:cut].strip()
        if piece:
            pieces.append(piece)
        start = cut
    return pieces


def squeezed(text: str) -> str:
    """`text` with every run of whitespace as one space, and none at its ends: a question's patterns with
    `\\s+` between words then cost its length, whatever runs of spaces or newlines it holds."""
    return " ".join(text.split())


def clean_sentence(text: str) -> str:
    """`text` without Markdown links, emphasis, list bullets or heading marks, on one line."""
    text = _LINK.sub(r"\1", text)
    text = _MARKUP.sub("", text)
    return " ".join(text.split())


def table_row(header: list[str], cells: list[str]) -> str | None:
    """A table row as a sentence, with its column names: "Time: Traditional AI: Discrete steps;
    Physical AI: Continuous, real-time." (the row's first cell names it). None for an empty row."""
    if not any(cells[1:]) or not cells[0]:
        return None
    pairs = [f"{h}: {c}" if h else c for h, c in zip(header[1:], cells[1:], strict=False) if c]
    text = f"{cells[0]}: " + "; ".join(pairs)
    return text if text.endswith((".", "!", "?")) else text + "."


def sentences_of(content: str) -> list[str]:
    """Prose sentences of a passage, and table rows written out as sentences; code blocks and formulas
    are not sentences, but a comment in code that explains it in words is."""
    return [sentence for sentence, _ in marked_sentences(content)]


def code_comments(content: str) -> set[str]:
    """The sentences `sentences_of` takes from comments inside a passage's code blocks."""
    return {sentence for sentence, from_code in marked_sentences(content) if from_code}


def marked_sentences(content: str) -> list[tuple[str, bool]]:
    """`sentences_of`, each with whether it is a comment in the passage's code."""
    out: list[tuple[str, bool]] = []
    in_fence = False
    paragraph: list[str] = []

    lead_in: list[str] = []

    def flush() -> None:
        lead_in.clear()
        if paragraph:
            for s in (
                piece for run in _SENTENCE_SPLIT.split(" ".join(paragraph)) for piece in bounded(clean_sentence(run))
            ):
                # A lead-in to a list ("A digital twin is a ... representation that:") is kept, the list follows it;
                # one to code ("The ubiquitous proportional-integral-derivative controller:") names what the code is.
                if len(s) >= 20 and re.search(r"[A-Za-z]{3}", s):
                    if s.endswith(":"):
                        lead_in[:] = [s[:-1].rstrip() + "."]
                    else:
                        lead_in.clear()
                    out.append((s, False))
            paragraph.clear()

    header: list[str] | None = None
    for line in content.split("\n"):
        stripped = line.strip()
        if stripped.startswith(("```", "~~~")):
            in_fence = not in_fence
            flush()
            continue
        if in_fence:
            comment = _CODE_COMMENT.match(stripped)
            # A comment that explains the code in words is the book's text too ("# Integral term (accumulate error over time)").
            if comment and len(comment["text"].split()) >= 3 and re.search(r"[A-Za-z]{3}", comment["text"]):
                out.extend((piece.rstrip(".") + ".", True) for piece in bounded(clean_sentence(comment["text"])))
            continue
        if stripped.startswith("|"):
            flush()
            cells = [clean_sentence(c) for c in stripped.strip("|").split("|")]
            if all(re.fullmatch(r":?-{2,}:?", c.replace(" ", "")) for c in cells if c):
                continue  # the separator under a header
            if header is None:
                header = cells
                continue
            row = table_row(header, cells)
            if row:
                out.extend((piece, False) for piece in bounded(row))
            continue
        header = None
        # An image line is a figure, shown as one, not a sentence (its alt text is not read out).
        if in_fence or stripped.startswith(("$$", "<", "![")) or not stripped:
            flush()
            continue
        if _LIST_ITEM.match(line):
            flush()  # a list item starts a paragraph of its own; indented lines after it continue it
        paragraph.append(stripped)
    flush()
    return out
