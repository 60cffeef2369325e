"""Checks on free text from students: what every question must satisfy."""

from __future__ import annotations

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
