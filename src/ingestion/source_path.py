"""`source_file` names a file inside the book: relative, no traversal, no control characters."""

from __future__ import annotations

import posixpath
import unicodedata


def validate_source_file(value: str) -> str:
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
