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

from tests.conftest import API_KEY, MODEL_CACHE, REPO, shared_path


def cli(data: Path, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NEON_", "DATABASE_URL", "QDRANT_", "REDIS_"))}
    env |= {
        "DATA_DIR": str(data),
        "LOG_DIR": str(data / "logs"),
        "HF_HUB_OFFLINE": "1",
        "COLUMNS": "200",
        "INDEXING_API_KEY": API_KEY,
    }
    env["MODEL_CACHE_DIR"] = str(MODEL_CACHE)
    return subprocess.run(
        [sys.executable, "-m", "src.cli", *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout
    )


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
        "INDEXING_API_KEY": API_KEY,
        "MODEL_CACHE_DIR": str(MODEL_CACHE),
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "src.cli", "index", str(root)],
        cwd=REPO,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
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
        res = subprocess.run(
            [sys.executable, "-c", check], cwd=REPO, env=env_n, capture_output=True, text=True, timeout=60
        )
        assert res.returncode == 0, res.stderr
        out[name] = res.stdout
    assert out["data"] == out["clean"]  # same ids, same count: no duplicates, phantoms or leftovers


def test_prune_keeps_a_file_that_fails_to_read(tmp_path: Path) -> None:
    root = book(tmp_path)
    data = tmp_path / "data"
    s1 = summary(cli(data, "index", str(root)).stdout)
    broken = root / "docs" / "03-ros2-fundamentals" / "index.md"
    good = broken.read_bytes()
    broken.write_bytes(good + b"\n\xff\xfe is not UTF-8\n")  # still on disk: the author is editing it
    pruned = cli(data, "index", str(root), "--prune")
    assert pruned.returncode == 1, pruned.stderr
    s2 = summary(pruned.stdout)
    assert s2["files"] == 2 and s2["failed"] == 1 and s2["removed files"] == 0 and s2["deleted"] == 0
    assert re.search(r"skipped \S+03-ros2-fundamentals/index\.md: 'utf-8' codec", pruned.stderr)
    broken.write_bytes(good)
    again = summary(cli(data, "index", str(root)).stdout)
    assert again["unchanged"] == s1["chunks"] and again["new"] == 0  # its chunks were kept all along


def test_prune_refuses_a_file_argument_without_a_prefix(tmp_path: Path) -> None:
    root = book(tmp_path)
    data = tmp_path / "data"
    s1 = summary(cli(data, "index", str(root)).stdout)
    one = root / "docs" / "01-introduction" / "index.md"
    refused = cli(data, "index", str(one), "--prune")  # every other document would count as gone from disk
    assert refused.returncode == 2
    assert len(refused.stderr.strip().splitlines()) == 1 and "--prefix" in refused.stderr, refused.stderr
    check = summary(cli(data, "index", str(root), "--prune").stdout)
    assert check["unchanged"] == s1["chunks"] and check["new"] == check["deleted"] == check["removed files"] == 0


def test_dry_run_lists_what_it_would_do_and_writes_nothing(tmp_path: Path) -> None:
    root = book(tmp_path)
    data = tmp_path / "data"
    cli(data, "index", str(root))
    shutil.rmtree(root / "docs" / "03-ros2-fundamentals")
    intro = root / "docs" / "01-introduction" / "index.md"
    intro.write_text(
        intro.read_text() + "\n## Safety Checklist\n\nA humanoid is powered down before anyone adjusts its joints.\n"
    )
    (root / "docs" / "02-humanoid-robotics" / "index.md").write_text("<!-- draft -->\n")  # no text left to index
    dry = cli(data, "index", str(root), "--prune", "--dry-run")
    assert dry.returncode == 1, dry.stderr
    assert "Dry run: nothing was written" in dry.stdout
    assert re.search(r"^would remove docs/03-ros2-fundamentals/index\.md \(\d+ chunks\)", dry.stderr, re.M), dry.stderr
    assert re.search(r"^would index \S+01-introduction/index\.md: \d+ chunks \([1-9]\d* new", dry.stderr, re.M), (
        dry.stderr
    )
    assert re.search(
        r"^would skip \S+02-humanoid-robotics/index\.md: would remove all \d+ chunks .* pass --allow-empty",
        dry.stderr,
        re.M,
    )
    would = summary(dry.stdout)
    done = cli(data, "index", str(root), "--prune")  # the same work again: the dry run wrote none of it
    assert (
        summary(done.stdout) == would
        and would["removed files"] == 1
        and would["new"] >= 1
        and would["deleted"] > 0
        and would["failed"] == 1
    )
    assert re.search(r"^remove docs/03-ros2-fundamentals/index\.md", done.stderr, re.M)
    assert re.search(r"^skipped \S+02-humanoid-robotics/index\.md: would remove all", done.stderr, re.M)
    emptied = cli(data, "index", str(root), "--allow-empty")
    assert (
        emptied.returncode == 0 and summary(emptied.stdout)["deleted"] > 0 and summary(emptied.stdout)["files"] == 2
    ), emptied.stderr


def test_links_out_of_the_book_are_not_indexed(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    (outside / "more").mkdir(parents=True)
    (outside / "secret.md").write_text("# Server notes\n\nThe deploy password lives in the vault.\n")
    (outside / "more" / "page.md").write_text("# More notes\n\nNothing from here belongs in the book.\n")
    docs = tmp_path / "book" / "docs"
    docs.mkdir(parents=True)
    (docs / "intro.md").write_text("# Walking\n\nA humanoid robot balances over its support polygon.\n")
    (docs / "linked.md").symlink_to(outside / "secret.md")
    (docs / "elsewhere").symlink_to(outside / "more", target_is_directory=True)
    (docs / "again.md").symlink_to(docs / "intro.md")  # stays inside the book: the same page, once
    run = cli(tmp_path / "data", "index", str(tmp_path / "book"))
    assert run.returncode == 0, run.stderr
    assert summary(run.stdout)["files"] == summary(run.stdout)["chunks"] == 1
    assert re.search(
        r"^skipped \S+/linked\.md: it leads to \S+/outside/secret\.md, outside the book folder", run.stderr, re.M
    ), run.stderr
    assert re.search(r"^skipped \S+/elsewhere: it leads to \S+/outside/more, outside", run.stderr, re.M)


def test_file_names_and_errors_are_printed_as_they_are(tmp_path: Path) -> None:
    docs = tmp_path / "book" / "docs"
    docs.mkdir(parents=True)
    (docs / "intro.md").write_text("# Walking\n\nA humanoid robot balances over its support polygon.\n")
    (docs / "[bold]draft[red] :warning:.md").write_bytes(b"# Draft\n\n\xff not UTF-8\n")
    data = tmp_path / "data"
    run = cli(data, "index", str(tmp_path / "book"))
    assert run.returncode == 1 and summary(run.stdout)["failed"] == 1, run.stderr
    assert "/[bold]draft[red] :warning:.md: 'utf-8' codec" in run.stderr, (
        run.stderr
    )  # not read as markup or an emoji code
    dry = cli(data, "index", str(tmp_path / "book"), "--dry-run")
    assert "would skip" in dry.stderr and "/[bold]draft[red] :warning:.md: 'utf-8' codec" in dry.stderr, dry.stderr
