"""The command line indexes a folder with a summary; re-runs are incremental; --prune removes
files that left the book; a killed run is completed by the next."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.conftest import MODEL_CACHE, REPO, shared_path


def cli(data: Path, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NEON_", "DATABASE_URL", "QDRANT_", "REDIS_"))}
    env |= {"DATA_DIR": str(data), "LOG_DIR": str(data / "logs"), "HF_HUB_OFFLINE": "1", "COLUMNS": "200", "INDEXING_API_KEY": "cli-test-key"}
    env["MODEL_CACHE_DIR"] = str(MODEL_CACHE)
    return subprocess.run([sys.executable, "-m", "src.cli", *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout)


def summary(out: str) -> dict[str, int]:
    row = next(line for line in out.splitlines() if re.match(r"^│\s+\d", line))
    values = [v.strip() for v in row.strip("│").split("│")]
    names = ["files", "chunks", "new", "unchanged", "deleted", "removed files", "failed"]
    return {n: int(v) for n, v in zip(names, values, strict=False)}


def book(tmp_path: Path) -> Path:
    src = shared_path("data", "textbooks", "physical-ai", "docs")
    dst = tmp_path / "book" / "docs"
    for chapter in ("01-introduction", "02-humanoid-robotics", "03-ros2-fundamentals"):
        shutil.copytree(src / chapter, dst / chapter)
    return tmp_path / "book"


def test_index_reindex_prune(tmp_path: Path) -> None:
    root = book(tmp_path)
    data = tmp_path / "data"
    first = cli(data, "index", str(root), "--base-url", "https://book.example")
    assert first.returncode == 0, first.stderr
    s1 = summary(first.stdout)
    assert s1["files"] == 3 and s1["chunks"] == s1["new"] > 20 and s1["failed"] == 0

    again = cli(data, "index", str(root), "--base-url", "https://book.example")
    s2 = summary(again.stdout)
    assert s2["new"] == 0 and s2["unchanged"] == s1["chunks"] and s2["deleted"] == 0

    shutil.rmtree(root / "docs" / "03-ros2-fundamentals")
    pruned = cli(data, "index", str(root), "--base-url", "https://book.example", "--prune")
    s3 = summary(pruned.stdout)
    assert s3["files"] == 2 and s3["removed files"] == 1 and s3["deleted"] > 0
    assert s3["chunks"] == s1["chunks"] - s3["deleted"]


def test_killed_run_is_completed_by_the_next(tmp_path: Path) -> None:
    root = book(tmp_path)
    data = tmp_path / "data"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NEON_", "DATABASE_URL", "QDRANT_", "REDIS_"))}
    env |= {
        "DATA_DIR": str(data),
        "LOG_DIR": str(data / "logs"),
        "HF_HUB_OFFLINE": "1",
        "INDEXING_API_KEY": "cli-test-key",
        "MODEL_CACHE_DIR": str(MODEL_CACHE),
    }
    proc = subprocess.Popen([sys.executable, "-m", "src.cli", "index", str(root)], cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not (data / "qdrant").exists():
        time.sleep(0.1)
    time.sleep(2.5)  # somewhere in the middle of embedding and writing
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    rerun = cli(data, "index", str(root))
    assert rerun.returncode == 0, rerun.stderr
    clean = cli(tmp_path / "clean", "index", str(root))
    assert summary(rerun.stdout)["chunks"] == summary(clean.stdout)["chunks"]
    check = (
        "import asyncio,sys\n"
        "from src.kit.settings import Settings\n"
        "from src.retrieval.store.embedded import EmbeddedStore\n"
        "s=Settings()\n"
        "st=EmbeddedStore(s.vector_dir/s.collection_name,384)\n"
        "print(st.count()); print(sorted(h for f in ['docs/01-introduction/index.md','docs/02-humanoid-robotics/index.md','docs/03-ros2-fundamentals/index.md'] for h in st.ids_for_source(f)))\n"
    )
    out = {}
    for name in ("data", "clean"):
        env_n = env | {"DATA_DIR": str(tmp_path / name)}
        res = subprocess.run([sys.executable, "-c", check], cwd=REPO, env=env_n, capture_output=True, text=True, timeout=60)
        assert res.returncode == 0, res.stderr
        out[name] = res.stdout
    assert out["data"] == out["clean"]  # same ids, same count: no duplicates, phantoms or leftovers
