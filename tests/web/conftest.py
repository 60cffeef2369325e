"""A real browser (Debian's Chromium driven by Playwright) against a real uvicorn serving the reading
page: a chapter of the shared Physical AI book indexed through the API, plus a planted chapter whose
text tries to run script. No browser can be downloaded here: Playwright launches the system Chromium."""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.answering.conftest import llama_server  # noqa: F401  (the real model server, for the Stop test)
from tests.conftest import API_KEY, REPO, env_for, free_port, make_settings, shared_path, unavailable, wait_healthy

CHAPTER = "02-humanoid-robotics.md"
PLANTED = "planted.md"
PLANTED_TEXT = """# Planted chapter

## Safety of robot arms

Robot arms stop when a person steps into the work cell. <script>window.__pwned = "script"</script>

<img src="x" onerror="window.__pwned = 'img'">

Read the [safety checklist](javascript:window.__pwned='link') before starting an arm.
"""
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@dataclass
class Site:
    url: str
    data_dir: Path
    proc: subprocess.Popen[bytes]
    log: Path

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=30)


def chromium_path() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if not path:
        unavailable("Chromium is not installed (apt-get install chromium): the browser tests need it")
    return str(path)


def start_site(tmp: Path, **env: str) -> Site:
    """A uvicorn serving the reading page from `tmp/book`, the chapter and the planted one indexed."""
    book = tmp / "book"
    book.mkdir(parents=True, exist_ok=True)
    shutil.copy(
        shared_path("data", "textbooks", "physical-ai", "docs", "02-humanoid-robotics", "index.md"), book / CHAPTER
    )
    (book / PLANTED).write_text(PLANTED_TEXT)
    settings = make_settings(tmp, cache_answer_ttl_seconds=0, reader_dir=book)
    port = free_port()
    log = tmp / f"server-{port}.log"
    command = [
        sys.executable,
        "-m",
        "uvicorn",
        "src.api.main:app",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--no-proxy-headers",
    ]
    environment = env_for(settings) | {"READER_DIR": str(book)} | env
    with log.open("wb") as out:
        proc = subprocess.Popen(
            command, cwd=REPO, env=environment, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    site = Site(f"http://127.0.0.1:{port}", settings.data_dir, proc, log)
    try:
        wait_healthy(site.url, proc, timeout=120)
        with httpx.Client(base_url=site.url, timeout=300, headers={"Authorization": f"Bearer {API_KEY}"}) as client:
            for name in (CHAPTER, PLANTED):
                meta = {"source_file": name, "url": f"/read/{name}"}
                response = client.post("/api/v1/index", json={"content": (book / name).read_text(), "metadata": meta})
                assert response.status_code == 200, response.text
    except BaseException:
        site.stop()
        raise
    return site


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    started = start_site(tmp_path_factory.mktemp("site"))
    yield started
    started.stop()


@pytest.fixture
def site_factory(tmp_path: Path) -> Iterator[Callable[..., Site]]:
    started: list[Site] = []

    def start(**env: str) -> Site:
        s = start_site(tmp_path / f"site{len(started)}", **env)
        started.append(s)
        return s

    yield start
    for s in started:
        s.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    path = chromium_path()
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        unavailable("playwright is not installed (make dev installs it)")
    with sync_playwright() as p:
        instance = p.chromium.launch(executable_path=path, args=CHROMIUM_ARGS)
        yield instance
        instance.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    tab = context.new_page()
    errors: list[str] = []
    tab.on("pageerror", lambda exc: errors.append(str(exc)))
    tab.on("dialog", lambda dialog: dialog.accept())
    tab.errors = errors
    yield tab
    context.close()


def serious_violations(page: Any) -> list[tuple[str, str, list[Any]]]:
    """axe-core's serious and critical findings in the widget (axe-core must be on the page)."""
    result = page.evaluate(
        "async () => await axe.run(document.querySelector('#textbook-chat'), {resultTypes: ['violations']})"
    )
    return [
        (v["id"], v["impact"], [n["target"] for n in v["nodes"]][:3])
        for v in result["violations"]
        if v["impact"] in ("serious", "critical")
    ]
