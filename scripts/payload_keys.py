"""A house rule `make lint` checks: a chunk's stored payload is read and written by key only in
`src/retrieval/` (`retrieval/passage.py`'s `Passage` is the typed form everyone else uses). Any
`payload.get(...)`, `payload[...]`, `x.payload.get(...)` or `x.payload[...]` elsewhere is refused.

    .venv/bin/python scripts/payload_keys.py [ROOT ...]

ROOT defaults to `src`; the files under a ROOT's `retrieval/` are allowed. Exit status 1 names
every offending line."""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterator
from pathlib import Path

ALLOWED = "retrieval"


def _is_payload(node: ast.expr) -> bool:
    return (isinstance(node, ast.Name) and node.id == "payload") or (
        isinstance(node, ast.Attribute) and node.attr == "payload"
    )


def _reads_by_key(node: ast.AST) -> bool:
    """`payload[...]` or `payload.get(...)`, on a name or an attribute called payload."""
    if isinstance(node, ast.Subscript):
        return _is_payload(node.value)
    return (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "get"
        and _is_payload(node.func.value)
    )


def offences(source: str) -> Iterator[int]:
    """The lines of `source` that read or write a payload by key."""
    for node in ast.walk(ast.parse(source)):
        if _reads_by_key(node):
            yield node.lineno


def check(root: Path) -> list[str]:
    found = []
    for path in sorted(root.rglob("*.py")):
        if path.relative_to(root).parts[0] == ALLOWED:
            continue
        found += [
            f"{path}:{line}: a payload read by key outside src/retrieval/ (use Passage)"
            for line in offences(path.read_text())
        ]
    return found


def main(roots: list[str]) -> int:
    found = [line for root in roots or ["src"] for line in check(Path(root))]
    for line in found:
        print(line)
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
