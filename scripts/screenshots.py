"""Screenshots of the reader's chat for the README (docs/img/): light, dark, phone, highlight-to-ask.

    .venv/bin/python -m scripts.screenshots

Serves this project's docs/ as `make run` does (indexed with --base-url /read) from a fresh DATA_DIR,
and drives Debian's Chromium with Playwright.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import httpx
from playwright.sync_api import Page, sync_playwright

from bench.common import BENCH_KEY, serve

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "docs" / "img"
PORT = 8799
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def index_docs(data_dir: Path) -> None:
    env = {**os.environ, "DATA_DIR": str(data_dir), "LOG_DIR": str(data_dir / "logs"), "HF_HUB_OFFLINE": "1"}
    subprocess.run(
        [sys.executable, "-m", "src.cli", "index", "docs", "--base-url", "/read"],
        cwd=REPO,
        env=env,
        check=True,
        capture_output=True,
    )


def ask(page: Page, question: str) -> None:
    page.locator("textarea.composer").fill(question)
    page.keyboard.press("Enter")
    page.wait_for_function("() => !document.querySelector('#textbook-chat').shadowRoot.querySelector('.typing')")
    page.wait_for_timeout(300)


def seed_reports(url: str) -> None:
    """A few readers' questions, some the docs do not answer, and a down-vote, for the dashboard's picture."""
    asked = [
        "How do I check that the service is ready?",
        "What does readiness check?",
        "How do I back up the database?",
        "How do I rotate the indexing key?",
        "How much does hosting cost on AWS?",
        "What's the price of running this on AWS?",
        "Does it support Kubernetes autoscaling with KEDA?",
        "How do I set up KEDA autoscaling?",
    ]
    with httpx.Client(base_url=url, timeout=60) as client:
        answers = [
            client.post("/api/v1/answer", json={"question": q, "page": "/read/runbook.md"}).json() for q in asked
        ]
        client.post(
            "/api/v1/feedback",
            json={"answer_id": answers[2]["answer_id"], "rating": "down", "comment": "I wanted the restore steps too."},
        )


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    data_dir = Path(tempfile.mkdtemp(prefix="screenshots-"))
    index_docs(data_dir)
    proc = serve(data_dir, PORT)
    url = f"http://127.0.0.1:{PORT}/read/runbook.md"
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=shutil.which("chromium"), args=ARGS)
            for theme in ("light", "dark"):
                context = browser.new_context(viewport={"width": 1280, "height": 800}, color_scheme=theme)
                page = context.new_page()
                page.goto(url)
                page.locator(".launcher").click()
                ask(page, "How do I check that the service is ready?")
                page.screenshot(path=str(OUT / f"widget-{theme}.png"))
                context.close()
            context = browser.new_context(
                viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True, device_scale_factor=2
            )
            page = context.new_page()
            page.goto(url)
            page.locator(".launcher").click()
            ask(page, "What does readiness check?")
            page.screenshot(path=str(OUT / "widget-mobile.png"))
            context.close()
            context = browser.new_context(viewport={"width": 1280, "height": 800})
            page = context.new_page()
            page.goto(url)
            paragraph = page.locator("main p").nth(1)
            paragraph.scroll_into_view_if_needed()
            box = paragraph.bounding_box()
            assert box is not None
            page.mouse.move(box["x"] + 2, box["y"] + 4)
            page.mouse.down()
            page.mouse.move(box["x"] + box["width"] - 2, box["y"] + box["height"] - 4, steps=8)
            page.mouse.up()
            page.locator(".ask-selection").wait_for(state="visible")
            page.screenshot(path=str(OUT / "highlight-button.png"))
            page.locator(".ask-selection").click()
            page.locator(".quick button").first.click()
            page.wait_for_function(
                "() => !document.querySelector('#textbook-chat').shadowRoot.querySelector('.typing')"
            )
            page.wait_for_timeout(300)
            page.screenshot(path=str(OUT / "highlight-to-ask.png"))
            context.close()
            seed_reports(f"http://127.0.0.1:{PORT}")
            context = browser.new_context(viewport={"width": 1280, "height": 1100})
            page = context.new_page()
            page.goto(f"http://127.0.0.1:{PORT}/admin")
            page.locator("#key").fill(BENCH_KEY)
            page.locator("#login button").click()
            page.locator("#gaps table").wait_for()
            page.screenshot(path=str(OUT / "admin.png"), full_page=True)
            context.close()
            browser.close()
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        shutil.rmtree(data_dir, ignore_errors=True)
    print("written:", ", ".join(sorted(p.name for p in OUT.glob("*.png"))))


if __name__ == "__main__":
    main()
