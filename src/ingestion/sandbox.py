"""Parsers that read hostile bytes (PDF, HTML) run in child processes with CPU, memory and wall-clock
limits, so a parser bug or a bomb costs one document a 422, never the worker.

A small pool of reusable children: a task costs about a millisecond of pickling, where a process per
parse costs tens (forkserver) or a second (spawn). Each child is started by the forkserver (the
parent runs onnxruntime's threads, which a plain fork would copy mid-flight), sets its limits again
before each task (RLIMIT_CPU counted from what it has used so far, RLIMIT_AS), and is killed past the
wall-clock timeout or retired after running out of memory. At most `workers` parse at once; more
callers wait for a free child. close_parsers() stops them (the container calls it at shutdown).
"""

from __future__ import annotations

import math
import multiprocessing
import resource
import signal
import threading
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import Any, TypeVar, cast

from src.ingestion.document import UnreadableDocument
from src.kit.errors import ServiceUnavailable
from src.kit.logging import get_logger
from src.kit.settings import Settings

log = get_logger(__name__)
T = TypeVar("T")
_CONTEXT = multiprocessing.get_context("forkserver")
_PRELOAD = ["src.ingestion.parsers"]  # imported once by the forkserver: a new child starts warm
_START_SECONDS = 60.0  # a child's start (the first one also starts the forkserver), not counted in a task's limit
_TASKS_PER_CHILD = 200  # then it is replaced, so what one parse fragmented does not count against later ones


class ParserLimitExceeded(UnreadableDocument):
    """The parsing child passed its CPU, memory or time limit, or died, and was stopped."""


@dataclass(frozen=True)
class SandboxLimits:
    memory_bytes: int
    cpu_seconds: int
    timeout_seconds: float
    workers: int

    @classmethod
    def of(cls, settings: Settings) -> SandboxLimits:
        return cls(
            memory_bytes=settings.parse_memory_mb * 1024 * 1024,
            cpu_seconds=settings.parse_cpu_seconds,
            timeout_seconds=settings.parse_timeout_seconds,
            workers=settings.parse_workers,
        )


def _set_limits(memory_bytes: int, cpu_seconds: int) -> None:
    """In the child, before each task: this task may use `cpu_seconds` more of CPU (SIGXCPU ends the
    child past them) and `memory_bytes` of address space in all (allocations fail past it)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    _, cpu_hard = resource.getrlimit(resource.RLIMIT_CPU)
    soft = math.ceil(usage.ru_utime + usage.ru_stime) + cpu_seconds
    resource.setrlimit(
        resource.RLIMIT_CPU, (soft if cpu_hard == resource.RLIM_INFINITY else min(soft, cpu_hard), cpu_hard)
    )
    _, memory_hard = resource.getrlimit(resource.RLIMIT_AS)
    resource.setrlimit(
        resource.RLIMIT_AS,
        (memory_bytes if memory_hard == resource.RLIM_INFINITY else min(memory_bytes, memory_hard), memory_hard),
    )


def _serve(conn: Connection) -> None:
    """The child's loop: (function, args, memory, cpu) in, ("ok", value) or (failure kind, detail) out."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C on the CLI is the parent's to handle
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))  # SIGXCPU would otherwise dump core
    conn.send("ready")  # started: a task's time limit counts from here
    while True:
        try:
            function, args, memory_bytes, cpu_seconds = conn.recv()
        except EOFError:  # the parent closed the pool or is gone
            return
        _set_limits(memory_bytes, cpu_seconds)
        reply: tuple[str, Any]
        try:
            reply = ("ok", function(*args))
        except UnreadableDocument as exc:
            reply = ("refused", exc)
        except MemoryError:
            reply = ("memory", None)
        except Exception as exc:  # noqa: BLE001 - whatever a parser raises on hostile input refuses that one document; the parent reports it
            reply = ("failed", f"{type(exc).__name__}: {exc}"[:300])
        conn.send(reply)


class _Child:
    def __init__(self) -> None:
        self.conn, child_end = _CONTEXT.Pipe()
        self.process: BaseProcess = _CONTEXT.Process(
            target=_serve, args=(child_end,), daemon=True, name="document-parser"
        )
        self.process.start()
        child_end.close()
        self.tasks = 0
        try:
            ready = self.conn.poll(_START_SECONDS) and self.conn.recv() == "ready"
        except (EOFError, OSError):
            ready = False
        if not ready:
            self.stop()
            log.error("PARSER_START_FAILED", exit_code=self.process.exitcode)
            raise ServiceUnavailable("the document parser could not be started; retry later")

    def stop(self) -> None:
        if self.process.is_alive():
            self.process.kill()
        self.process.join(5)
        self.conn.close()


class ParserPool:
    def __init__(self) -> None:
        self._idle: list[_Child] = []
        self._busy = 0
        self._changed = threading.Condition()
        self._generation = 0  # bumped by close(): children of an older one are stopped when returned
        self._preloaded = False

    def _acquire(self, workers: int) -> tuple[_Child | None, int]:
        with self._changed:
            while self._busy >= workers:
                self._changed.wait()
            self._busy += 1
            if not self._preloaded:
                _CONTEXT.set_forkserver_preload(_PRELOAD)
                self._preloaded = True
            return (self._idle.pop() if self._idle else None), self._generation

    def _release(self, child: _Child | None, generation: int, keep: bool) -> None:
        with self._changed:
            self._busy -= 1
            self._changed.notify()
            if child is not None and keep and generation == self._generation and child.tasks < _TASKS_PER_CHILD:
                self._idle.append(child)
                return
        if child is not None:
            child.stop()

    def run(self, function: Callable[..., T], args: tuple[Any, ...], limits: SandboxLimits) -> T:
        """`function(*args)` in a child within `limits`: its value, the UnreadableDocument it raised, or
        ParserLimitExceeded. `function` and its arguments are pickled: a module-level function."""
        child, generation = self._acquire(limits.workers)
        keep = False
        kind: str
        value: Any
        try:
            if child is None or not child.process.is_alive():
                if child is not None:
                    child.stop()
                child = _Child()
            child.tasks += 1
            try:
                child.conn.send((function, args, limits.memory_bytes, limits.cpu_seconds))
                answered = child.conn.poll(limits.timeout_seconds)
                kind, value = child.conn.recv() if answered else ("timeout", None)
            except (EOFError, OSError):  # the child died: killed at a limit, or crashed in the parser
                raise self._died(child, limits) from None
            keep = kind in ("ok", "refused")
        finally:
            self._release(child, generation, keep)
        if kind == "ok":
            return cast(T, value)  # what `function` returned, through pickle
        if kind == "refused":
            assert isinstance(value, UnreadableDocument)
            raise value
        if kind == "timeout":
            log.warning("PARSER_TIMEOUT", seconds=limits.timeout_seconds)
            raise ParserLimitExceeded(
                f"parsing took longer than PARSE_TIMEOUT_SECONDS ({limits.timeout_seconds:g} s): the document was refused"
            )
        if kind == "memory":
            log.warning("PARSER_OUT_OF_MEMORY", memory_mb=limits.memory_bytes // (1024 * 1024))
            raise ParserLimitExceeded(
                f"parsing needed more memory than PARSE_MEMORY_MB ({limits.memory_bytes // (1024 * 1024)} MiB): the document was refused"
            )
        log.warning("PARSER_FAILED", error=value)
        raise UnreadableDocument(f"the document could not be parsed ({value})")

    @staticmethod
    def _died(child: _Child, limits: SandboxLimits) -> ParserLimitExceeded:
        child.process.join(5)
        code = child.process.exitcode
        log.warning("PARSER_DIED", exit_code=code)
        if code == -signal.SIGXCPU:
            return ParserLimitExceeded(
                f"parsing used more CPU than PARSE_CPU_SECONDS ({limits.cpu_seconds} s): the document was refused"
            )
        return ParserLimitExceeded(
            f"the parser stopped (exit code {code}), most likely past PARSE_MEMORY_MB or PARSE_CPU_SECONDS: the document was refused"
        )

    def close(self) -> None:
        """Stop the idle children now and the busy ones when their task returns; a later run() starts new ones."""
        with self._changed:
            self._generation += 1
            idle, self._idle = self._idle, []
        for child in idle:
            child.stop()


_POOL = ParserPool()  # one per process, started lazily: nothing runs at import


def run_limited(function: Callable[..., T], args: tuple[Any, ...], limits: SandboxLimits) -> T:
    return _POOL.run(function, args, limits)


def close_parsers() -> None:
    _POOL.close()
