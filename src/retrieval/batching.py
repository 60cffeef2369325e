"""Query micro-batching: questions that arrive while the model is busy share one model call.

A question that finds the model idle is embedded at once, alone: a single client waits for nothing.
When calls are already running, a new question waits up to QUERY_BATCH_WINDOW_MS for others, or for
a call to finish, and then goes to the model with every question that queued meanwhile. At most
`parallel` calls run at once (one per core): past that, questions queue and leave as one batch.
"""

from __future__ import annotations

import asyncio
import os

from anyio import to_thread

from src.kit.metrics import QUERY_EMBEDDINGS
from src.retrieval.embedder import Embedder, Vectors


class QueryBatcher:
    def __init__(self, embedder: Embedder, window_ms: float, parallel: int | None = None) -> None:
        self.embedder = embedder
        self.window = window_ms / 1000
        self.parallel = parallel or max(1, os.cpu_count() or 1)
        self._pending: list[tuple[str, asyncio.Future[Vectors]]] = []
        self._running = 0
        self._timer: asyncio.TimerHandle | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self.calls = 0  # model calls made (the batching test and the benchmark read these)
        self.questions = 0

    async def embed(self, text: str) -> Vectors:
        if self.window <= 0:
            self._count(1)
            return await to_thread.run_sync(self.embedder.embed_one, text)
        future: asyncio.Future[Vectors] = asyncio.get_running_loop().create_future()
        self._pending.append((text, future))
        if self._running == 0:
            self._dispatch()
        elif self._running < self.parallel and self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(self.window, self._dispatch)
        # else: every slot is busy; the next call to finish takes this question along.
        return await future

    def _count(self, questions: int) -> None:
        self.calls += 1
        self.questions += questions
        QUERY_EMBEDDINGS.labels("call").inc()
        QUERY_EMBEDDINGS.labels("question").inc(questions)

    def _dispatch(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        batch = [(t, f) for t, f in self._pending if not f.done()]  # a cancelled request drops out
        self._pending = []
        if not batch:
            return
        self._running += 1
        self._count(len(batch))
        task = asyncio.get_running_loop().create_task(self._run(batch), name="query-embedding")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _run(self, batch: list[tuple[str, asyncio.Future[Vectors]]]) -> None:
        try:
            vectors = await to_thread.run_sync(self.embedder.embed_queries, [t for t, _ in batch])
        except BaseException as exc:
            for _, future in batch:
                if not future.done():
                    future.set_exception(
                        exc if isinstance(exc, Exception) else RuntimeError("query embedding cancelled")
                    )
            if not isinstance(exc, Exception):
                raise
        else:
            for (_, future), vector in zip(batch, vectors, strict=True):
                if not future.done():
                    future.set_result(vector)
        finally:
            self._running -= 1
            if self._pending and self._timer is None:
                self._dispatch()
