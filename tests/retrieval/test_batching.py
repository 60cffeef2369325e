"""Query micro-batching on the real model: concurrent questions share model calls and get the
vectors they would get alone; a lone question goes straight to the model; a failure reaches every
waiting question."""

from __future__ import annotations

import asyncio
from typing import Any

import numpy as np
import pytest

from src.retrieval.batching import QueryBatcher
from src.retrieval.embedder import Embedder

QUESTIONS = [
    "What is the zero moment point?",
    "How does ROS 2 discover nodes?",
    "What is ownership in Rust?",
    "Why use a support polygon?",
    "What does a lidar measure?",
    "How do I borrow a value mutably?",
    "What is a transformer?",
    "Explain gradient descent",
]


@pytest.fixture(scope="module")
def embedder() -> Embedder:
    return Embedder()


async def test_concurrent_questions_share_calls_and_get_their_own_vectors(embedder: Embedder) -> None:
    batcher = QueryBatcher(embedder, window_ms=2, parallel=1)
    vectors = await asyncio.gather(*(batcher.embed(q) for q in QUESTIONS))
    assert batcher.questions == len(QUESTIONS) and batcher.calls < len(QUESTIONS)
    for question, vector in zip(QUESTIONS, vectors, strict=True):
        alone = embedder.embed_one(question)
        assert vector.shape == alone.shape
        # The int8 model scales its activations per call, so a batch-mate shifts a vector a little.
        assert float(np.dot(vector, alone)) > 0.985


async def test_a_lone_question_is_not_held_back(embedder: Embedder) -> None:
    batcher = QueryBatcher(embedder, window_ms=50, parallel=2)
    loop = asyncio.get_running_loop()
    timers: list[Any] = []
    original = loop.call_later

    def spy(delay: float, *args: Any, **kwargs: Any) -> Any:
        timers.append(delay)
        return original(delay, *args, **kwargs)

    loop.call_later = spy  # type: ignore[method-assign]
    try:
        for question in QUESTIONS[:3]:
            await batcher.embed(question)
    finally:
        loop.call_later = original  # type: ignore[method-assign]
    assert 0.05 not in timers  # sequential questions never wait for the window
    assert batcher.calls == 3


async def test_window_zero_turns_batching_off(embedder: Embedder) -> None:
    batcher = QueryBatcher(embedder, window_ms=0)
    await asyncio.gather(*(batcher.embed(q) for q in QUESTIONS[:4]))
    assert batcher.calls == 4


async def test_a_model_failure_reaches_every_waiting_question(embedder: Embedder) -> None:
    class Broken:
        def embed_one(self, text: str) -> Any:
            raise RuntimeError("model file unreadable")

        def embed_queries(self, texts: list[str]) -> Any:
            raise RuntimeError("model file unreadable")

    batcher = QueryBatcher(Broken(), window_ms=2, parallel=1)  # type: ignore[arg-type]
    results = await asyncio.gather(*(batcher.embed(q) for q in QUESTIONS[:5]), return_exceptions=True)
    assert all(isinstance(r, RuntimeError) for r in results)
    assert (await asyncio.gather(batcher.embed("again"), return_exceptions=True))[
        0
    ].__class__ is RuntimeError  # not stuck
