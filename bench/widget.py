"""The reader's chat in Chromium against the local server at about 10k chunks (offline default): the
widget's gzipped size, and the time from pressing Enter to the first streamed character and to the
whole answer on screen, p50/p95 over 50 questions. With --model, the time to the first model
sentence over /api/v1/answer/stream from llama.cpp's server (SmolLM2) on this machine.

    .venv/bin/python -m bench.widget [--questions 50] [--model] [--write]

Uses the 10k collection of bench.common (the pooled benchmark corpus); caches off.
"""

from __future__ import annotations

import argparse
import gzip
import json
import shutil
import subprocess
import sys
import time

import httpx
from playwright.sync_api import sync_playwright

from bench.common import collection, percentile, questions, serve
from bench.corpus import REPO, require_shared
from bench.report import machine, write_section
from src.retrieval.embedder import Embedder

PORT = 8797
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
WIDGET = REPO / "src" / "web" / "static" / "widget.js"
PAGE = """<!doctype html><html><head><meta charset="utf-8"><title>bench</title>
<script src="/widget.js" data-selection="false" defer></script></head><body><main><p>Benchmark page.</p></main></body></html>"""


def browser_timings(url: str, asked: list[str]) -> tuple[list[float], list[float]]:
    first, whole = [], []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=shutil.which("chromium"), args=ARGS)
        page = browser.new_page()
        page.route(f"{url}/bench.html", lambda route: route.fulfill(status=200, content_type="text/html", body=PAGE))
        page.goto(f"{url}/bench.html")
        page.locator(".launcher").click()
        # A page-side probe: the time from the Enter keydown to the first text in the live answer, and to
        # the finished turn (the streamed text replaced by the rendered answer).
        page.evaluate(
            """() => {
              const root = document.querySelector('#textbook-chat').shadowRoot;
              window.__t = {};
              root.querySelector('textarea.composer').addEventListener('keydown', (e) => { if (e.key === 'Enter') window.__t = {enter: performance.now()}; }, true);
              new MutationObserver(() => {
                const live = root.querySelector('.answer-text.typing');
                if (live && live.textContent && !window.__t.first) window.__t.first = performance.now();
                const turns = root.querySelectorAll('.turn');
                const last = turns[turns.length - 1];
                if (last && !last.querySelector('.typing') && last.querySelector('.answer .badge') && window.__t.enter && !window.__t.done) window.__t.done = performance.now();
              }).observe(root, {subtree: true, childList: true, characterData: true});
            }"""
        )
        for question in asked:
            page.locator("textarea.composer").fill(question)
            page.keyboard.press("Enter")
            page.wait_for_function("() => window.__t && window.__t.done")
            t = page.evaluate("() => window.__t")
            first.append(t.get("first", t["done"]) - t["enter"])
            whole.append(t["done"] - t["enter"])
        browser.close()
    return first, whole


def first_model_sentence(n: int, first_deadline: float) -> dict[str, float]:
    """Seconds to the first model sentence (the first `delta` of an answer the model wrote) and to `done`,
    with llama.cpp's server as the model and ANSWER_TIMEOUT_SECONDS = `first_deadline`."""
    from src.answering.providers.local import packaged_model

    port = PORT + 1
    llama = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "llama_cpp.server",
            "--model",
            str(packaged_model()),
            "--model_alias",
            "smollm2",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--n_ctx",
            "2048",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/v1/models", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.5)
        env = {
            "LLM_PROVIDER": "openai",
            "LLM_BASE_URL": f"http://127.0.0.1:{port}/v1",
            "LLM_MODEL": "smollm2",
            "LLM_API_KEY": "local",
            "LLM_CONTEXT_TOKENS": "700",  # SmolLM2 behind llama.cpp's server: the small model's budgets
            "LLM_MAX_TOKENS": "200",
            "ANSWER_TIMEOUT_SECONDS": str(first_deadline),
        }
        data_dir = collection("10k", Embedder())
        proc = serve(data_dir, PORT, env)
        firsts, dones, from_model = [], [], 0
        try:
            with httpx.Client(base_url=f"http://127.0.0.1:{PORT}", timeout=120) as client:
                for q in questions()[:n]:
                    t = time.perf_counter()
                    first = None
                    with client.stream("POST", "/api/v1/answer/stream", json={"question": q}) as r:
                        event = ""
                        for line in r.iter_lines():
                            if line.startswith("event:"):
                                event = line[6:].strip()
                            elif line.startswith("data:") and event == "delta" and first is None:
                                first = time.perf_counter() - t
                            elif line.startswith("data:") and event == "done":
                                done = json.loads(line[5:])
                                from_model += done["provider"] == "openai"
                    dones.append(time.perf_counter() - t)
                    if first is not None and done["provider"] == "openai":
                        firsts.append(first)
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    finally:
        llama.terminate()
        llama.wait(timeout=30)
    none = float("nan")
    p50, p95 = (percentile(firsts, 0.5), percentile(firsts, 0.95)) if firsts else (none, none)
    return {"n": n, "from_model": from_model, "first_p50": p50, "first_p95": p95, "done_p50": percentile(dones, 0.5)}


def seconds(value: float) -> str:
    return "–" if value != value else f"{value:.2f} s"  # NaN: the model wrote no answer in time


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--questions", type=int, default=50)
    parser.add_argument(
        "--model", action="store_true", help="also measure the first model sentence with llama.cpp's server"
    )
    parser.add_argument("--write", action="store_true")
    args = parser.parse_args()
    require_shared()
    size = len(gzip.compress(WIDGET.read_bytes(), compresslevel=9))
    data_dir = collection("10k", Embedder())
    proc = serve(data_dir, PORT)
    try:
        first, whole = browser_timings(f"http://127.0.0.1:{PORT}", questions()[: args.questions])
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    rows = [
        "| measure | value | target |",
        "|---|---|---|",
        f"| widget.js, minified and gzipped (level 9) | {size / 1024:.1f} KB ({WIDGET.stat().st_size / 1024:.1f} KB raw) | ≤ 30 KB |",
        f"| Enter → first streamed character, p50 / p95 ({len(first)} questions) | {percentile(first, 0.5):.0f} / {percentile(first, 0.95):.0f} ms | p95 ≤ 100 ms |",
        f"| Enter → whole extractive answer rendered, p50 / p95 | {percentile(whole, 0.5):.0f} / {percentile(whole, 0.95):.0f} ms | p95 ≤ 250 ms |",
    ]
    if args.model:
        for first_deadline in (1.8, 20.0):
            m = first_model_sentence(20, first_deadline)
            rows.append(
                f"| llama.cpp's server (SmolLM2-135M, 2 cores), ANSWER_TIMEOUT_SECONDS={first_deadline:g}: first model sentence p50 / p95 over the"
                f" {m['from_model']:.0f} of {m['n']:.0f} answers the model wrote (the rest fell back to quotes) | {seconds(m['first_p50'])} / {seconds(m['first_p95'])}"
                f" (whole stream p50 {m['done_p50']:.2f} s) | report |"
            )
    text = "\n".join(rows)
    print(text)
    if args.write:
        body = (
            "Chromium (Debian's, headless, driven by Playwright) on a page with the widget, against the local server on the 10k collection, offline default, caches off. The clock runs in the page: from the Enter keydown to the first text in the answer and to the rendered answer.\n\n"
            + text
        )
        write_section("Reader's chat (widget)", body, "python -m bench.widget --model --write", machine())


if __name__ == "__main__":
    main()
