"""scripts/payload_keys.py (`make lint`): a chunk's payload is read by key only in src/retrieval/. The
source tree passes; a payload read by key planted elsewhere fails, named by file and line."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from scripts.payload_keys import offences
from tests.conftest import REPO

SCRIPT = REPO / "scripts" / "payload_keys.py"


def run(root: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SCRIPT), str(root)], capture_output=True, text=True, cwd=REPO, check=False
    )


def test_the_source_tree_reads_payloads_only_in_retrieval() -> None:
    result = run(REPO / "src")
    assert result.returncode == 0, result.stdout


def test_a_payload_read_by_key_outside_retrieval_fails(tmp_path: Path) -> None:
    root = tmp_path / "src"
    shutil.copytree(REPO / "src" / "answering", root / "answering")
    shutil.copytree(REPO / "src" / "retrieval", root / "retrieval")
    assert run(root).returncode == 0
    planted = root / "answering" / "planted.py"
    planted.write_text('def section(hit):\n    return hit.payload.get("section")\n')
    result = run(root)
    assert result.returncode == 1 and f"{planted}:2:" in result.stdout


def test_every_form_of_a_keyed_read_is_found_and_typed_reads_are_not() -> None:
    source = """
a = payload.get("title")
b = hit.payload["url"]
payload["page"] = 3
c = hit.payload.get("content", "")
d = hit.passage.section
e = Passage.from_payload(hit.payload)
f = metadata.get("chapter")
"""
    assert list(offences(source)) == [2, 3, 4, 5]
