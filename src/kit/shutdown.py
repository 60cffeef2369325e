"""Graceful shutdown under uvicorn and gunicorn: readiness fails at SIGTERM, in-flight requests drain."""

from __future__ import annotations

import asyncio
import contextvars
import signal
import threading
import time
from types import FrameType
from typing import Any

from uvicorn.server import Server as UvicornServer

from src.kit.logging import get_logger
from src.kit.metrics import READY
from src.kit.middleware import InFlight

log = get_logger(__name__)

DRAIN_ANNOUNCE_SECONDS = 5.0
"""After SIGTERM, how long at most the listener stays open while requests are in flight, so probes see 503."""
_DRAIN_POLL_SECONDS = 0.05
DUPLICATE_SIGNAL_SECONDS = 2.0
"""A SIGTERM this soon after the first is the same stop, delivered again (by the gunicorn master)."""


class SigtermDrain:
    """SIGTERM handling, chained in front of the server's own handler during the lifespan.

    On SIGTERM readiness fails at once (`InFlight.draining`, and the `rag_ready` gauge). Under uvicorn
    (alone, `--workers`, or the gunicorn uvicorn workers) the listener then stays open while requests are in flight, for at most
    DRAIN_ANNOUNCE_SECONDS, so a load balancer polling `/api/v1/health/ready` sees 503 rather than a
    refused connection; then uvicorn stops accepting and waits for the remaining requests until
    SHUTDOWN_GRACE_SECONDS after the signal, and the lifespan closes the stores.

    Installed at lifespan startup, not at app creation: uvicorn (`Server.capture_signals`) and the gunicorn
    worker (`init_signals`) install their handlers after the app is imported and before the lifespan, so a
    handler installed at import is overwritten. The server is stopped through `should_exit` rather than its
    `handle_exit`, which would record the signal and re-raise it at exit with the default action, so the
    process would end "killed by SIGTERM" instead of exiting 0 after a clean drain.
    """

    def __init__(self, in_flight: InFlight, grace_seconds: float) -> None:
        self.in_flight = in_flight
        self.grace_seconds = grace_seconds
        self.previous: Any = None
        self.installed = False
        self.signalled_at: float | None = None
        self.loop: asyncio.AbstractEventLoop | None = None
        self.task: asyncio.Task[None] | None = None

    def install(self) -> bool:
        """Chain in front of the current SIGTERM handler; do nothing where no server handles SIGTERM (in-process tests)."""
        if threading.current_thread() is not threading.main_thread():
            return False
        previous = signal.getsignal(signal.SIGTERM)
        if not callable(previous):
            return False
        self.previous = previous
        self.loop = asyncio.get_running_loop()
        signal.signal(signal.SIGTERM, self.handle)
        self.installed = True
        return True

    def uninstall(self) -> None:
        if (
            self.installed
            and threading.current_thread() is threading.main_thread()
            and signal.getsignal(signal.SIGTERM) == self.handle
        ):
            signal.signal(signal.SIGTERM, self.previous)
        self.installed = False
        if self.task is not None and not self.task.done():
            self.task.cancel()

    def _server(self) -> UvicornServer | None:
        owner = getattr(self.previous, "__self__", None)
        return owner if isinstance(owner, UvicornServer) else None

    def handle(self, signum: int, frame: FrameType | None) -> None:
        # A signal handler: set flags and schedule; logging and metrics happen on the loop (a metric's lock
        # may be held by the code this signal interrupted).
        self.in_flight.draining = True
        if self.loop is not None and not self.loop.is_closed():
            self.loop.call_soon_threadsafe(READY.set, 0)  # rag_ready drops at once, not at the next readiness check
        server = self._server()
        if server is None:
            self.previous(signum, frame)
            return
        if self.signalled_at is not None:
            # The same stop delivered twice (`pkill -TERM gunicorn` reaches the worker, then its master passes
            # SIGTERM on): keep the drain. A second SIGTERM sent later means stop accepting now.
            if time.monotonic() - self.signalled_at >= DUPLICATE_SIGNAL_SECONDS:
                server.should_exit = True
            return
        self.signalled_at = time.monotonic()
        if self.loop is None or self.loop.is_closed():
            server.should_exit = True
            return
        # A fresh context: the interrupted code's (a request's id, bound for its log lines) is not the drain's.
        self.loop.call_soon_threadsafe(self._start_drain, context=contextvars.Context())

    def _start_drain(self) -> None:
        log.info("SHUTDOWN_SIGNAL", in_flight=self.in_flight.count, grace_seconds=self.grace_seconds)
        self.task = asyncio.get_running_loop().create_task(self._drain(), name="sigterm-drain")

    async def _drain(self) -> None:
        server = self._server()
        if server is None or self.signalled_at is None:
            return
        announce_until = self.signalled_at + min(DRAIN_ANNOUNCE_SECONDS, self.grace_seconds)
        while self.in_flight.count > 0 and time.monotonic() < announce_until and not server.should_exit:  # noqa: ASYNC110 - InFlight is a plain counter
            await asyncio.sleep(_DRAIN_POLL_SECONDS)
        remaining = max(0.1, self.grace_seconds - (time.monotonic() - self.signalled_at))
        current = server.config.timeout_graceful_shutdown
        drain = remaining if current is None else min(current, remaining)
        # uvicorn annotates this setting as int but waits on it with asyncio.wait_for, which takes a float.
        server.config.timeout_graceful_shutdown = drain  # type: ignore[assignment]
        log.info("SHUTDOWN_STOP_ACCEPTING", in_flight=self.in_flight.count, drain_seconds_left=round(drain, 1))
        server.should_exit = True


def drain_begins(in_flight: InFlight) -> None:
    """Readiness fails from now on, and `rag_ready` says so at once. On the loop, not in a signal handler."""
    in_flight.draining = True
    READY.set(0)


def watch_sigterm(in_flight: InFlight, grace_seconds: float) -> SigtermDrain:
    """Readiness fails from the moment SIGTERM arrives, before the server stops accepting. Call from the lifespan."""
    drain = SigtermDrain(in_flight, grace_seconds)
    drain.install()
    return drain
