"""LLM_PROVIDER=local (llama.cpp in process, SmolLM2-135M) writes one answer at a time: at most
LLM_LOCAL_MAX_WAITING more are let in to wait for it, the next fall back at once (a ProviderError, which
the writer turns into the quoted answer, degraded), and an answer that gave up while waiting (its deadline
passed: the writer cancels it) leaves the queue without its prompt ever reaching the model.

The real model, read from its own state: `n_tokens` and `input_ids` are what llama.cpp evaluated."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import pytest

from src.answering.providers.base import ProviderError
from tests.conftest import make_settings, unavailable

pytestmark = pytest.mark.slow


def evaluated(provider: object) -> str:
    llm = provider.llm  # type: ignore[attr-defined]
    return bytes(llm.detokenize(llm.input_ids[: llm.n_tokens].tolist())).decode(errors="replace")


def ask(marker: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": f"Repeat the word {marker}."}]


async def test_the_local_model_queue_is_bounded_and_a_waiter_that_gave_up_never_runs(tmp_path: Path) -> None:
    try:
        import llama_cpp  # noqa: F401
    except ImportError:
        unavailable("llama-cpp-python is not installed: run `make llm`")
    from src.answering.providers.local import LocalLlama

    provider = LocalLlama(make_settings(tmp_path, llm_local_max_waiting=0))
    before = set(threading.enumerate())
    # The test holds the model, as a generation in progress does: the first answer is let in and waits.
    provider.lock.acquire()
    try:
        waiting = provider.generate(ask("pineapple"), 8)
        turned_away = provider.generate(ask("banana"), 8)
        waiter = asyncio.ensure_future(anext(waiting))
        refused = asyncio.ensure_future(anext(turned_away))
        for _ in range(5):
            await asyncio.sleep(0)
        # Past the bound: refused at once, without waiting for the model.
        assert refused.done() and isinstance(refused.exception(), ProviderError)
        assert not waiter.done() and provider.admitted == 1
        # Its deadline passes: the writer cancels it. It leaves the queue while the model is still busy.
        waiter.cancel()
        threads = [t for t in threading.enumerate() if t not in before and t.name == "llama-generate"]
        assert len(threads) == 1
        await asyncio.to_thread(threads[0].join, 30)
        assert not threads[0].is_alive()
    finally:
        provider.lock.release()
    for thread in threads:
        await asyncio.to_thread(thread.join, 120)
    await asyncio.sleep(0)  # the thread's last word reaches the event loop
    assert provider.admitted == 0
    assert provider.llm.n_tokens == 0, evaluated(provider)  # no prompt reached the model

    # With the model free, an answer is let in and runs (the check above reads what a prompt leaves behind).
    answering = provider.generate(ask("mango"), 1)
    assert await anext(answering)
    await answering.aclose()  # type: ignore[attr-defined]  # an async generator, typed as the Provider protocol's AsyncIterator
    for thread in [t for t in threading.enumerate() if t not in before and t.name == "llama-generate"]:
        await asyncio.to_thread(thread.join, 120)
    assert "mango" in evaluated(provider) and "pineapple" not in evaluated(provider)
    await provider.close()
