"""Regular expressions that cost time linear in the text they read, whatever the text: RE2 (google-re2).

Python's `re` backtracks: a pattern with two unbounded parts that can fail late (`if .* then`,
`repeat the [^.]* prompt`, `what is (.+?) mean`) tries every start with every split, and a sentence
without a period costs the square of its length, holding the GIL all the while. RE2 matches without
backtracking. Its syntax has no lookaround and no backreferences, and its `\\b`, `\\w`, `\\d` and `\\s`
are ASCII: the patterns compiled here are English phrases, where that makes no difference.

Patterns that `re` runs in linear time by their shape (a word scanner, an anchored check of a
bounded prefix) stay with `re`: RE2's Python binding costs a few microseconds per match found.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol, cast

import re2  # type: ignore[import-untyped]  # google-re2 ships no type information


class LinearMatch(Protocol):
    def __getitem__(self, group: int | str, /) -> str | None: ...

    def group(self, group: int | str = 0, /) -> str | None: ...

    def groupdict(self) -> dict[str, str | None]: ...

    def start(self, group: int | str = 0, /) -> int: ...

    def end(self, group: int | str = 0, /) -> int: ...


class LinearPattern:
    """A compiled RE2 pattern with the part of `re.Pattern`'s interface the service uses."""

    def __init__(self, pattern: str, *, ignore_case: bool = False, multiline: bool = False) -> None:
        flags = ("i" if ignore_case else "") + ("m" if multiline else "")
        self.pattern = pattern
        self._compiled = re2.compile(f"(?{flags}){pattern}" if flags else pattern)

    def search(self, text: str) -> LinearMatch | None:
        return cast(LinearMatch | None, self._compiled.search(text))

    def match(self, text: str) -> LinearMatch | None:
        return cast(LinearMatch | None, self._compiled.match(text))

    def finditer(self, text: str) -> Iterator[LinearMatch]:
        return cast(Iterator[LinearMatch], self._compiled.finditer(text))
