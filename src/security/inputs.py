"""Checks on what clients send: free text from students (questions, selections, comments) and the
book-relative `source_file` paths that name indexed files."""

from __future__ import annotations

import posixpath
import unicodedata

# Bidirectional overrides can make a question display differently from what it says.
_BIDI_CONTROLS = {"\u202a", "\u202b", "\u202c", "\u202d", "\u202e", "\u2066", "\u2067", "\u2068", "\u2069"}


def validate_question(value: str) -> str:
    if "\x00" in value:
        raise ValueError("question must not contain NUL characters")
    cleaned = "".join(c for c in value if c not in _BIDI_CONTROLS and (unicodedata.category(c) != "Cc" or c in "\n\t"))
    cleaned = unicodedata.normalize("NFC", cleaned).strip()
    if not cleaned:
        raise ValueError("question must contain visible text")
    return cleaned


def validate_source_file(value: str) -> str:
    """A file inside the book: relative, no traversal, no control characters."""
    if any(unicodedata.category(c) in {"Cc", "Cf", "Cs", "Co", "Cn"} for c in value):
        raise ValueError("source_file must not contain control or invisible characters")
    if "\\" in value:
        raise ValueError("source_file uses forward slashes")
    if value.startswith("/") or value.strip() != value:
        raise ValueError("source_file must be a relative path without surrounding spaces")
    parts = value.split("/")
    if any(part in {"", ".", ".."} for part in parts):
        raise ValueError("source_file must not contain empty, '.' or '..' segments")
    if posixpath.normpath(value) != value:
        raise ValueError("source_file must be a normalised relative path")
    return value
