"""Real processes and a real TCP proxy for fault tests: a private redis-server the test can kill and
restart, and an asyncio proxy the test can cut (refuse and drop everything) or stall (accept, then
forward nothing) between the app and a real server."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import socket
import subprocess
import time
from pathlib import Path

from tests.conftest import port_open


class PrivateRedis:
    """`redis-server` on a free loopback port, no persistence: a restart starts empty."""

    def __init__(self, port: int, workdir: Path) -> None:
        self.port = port
        self.workdir = workdir
        self.proc: subprocess.Popen[bytes] | None = None
        self.url = f"redis://127.0.0.1:{port}/0"

    def start(self, timeout: float = 10.0) -> None:
        exe = shutil.which("redis-server")
        if exe is None:
            raise RuntimeError("redis-server is not installed")
        self.workdir.mkdir(parents=True, exist_ok=True)
        command = [
            exe,
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(self.workdir),
        ]
        with (self.workdir / "redis.log").open("ab") as out:
            self.proc = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"redis-server exited with {self.proc.returncode}: {(self.workdir / 'redis.log').read_text()[-2000:]}"
                )
            if port_open("127.0.0.1", self.port):
                return
            time.sleep(0.05)
        self.stop()
        raise TimeoutError(f"redis-server did not listen on {self.port} within {timeout}s")

    def stop(self) -> None:
        """SIGKILL: the abrupt failure, no goodbye to clients."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)
        self.proc = None
        deadline = time.monotonic() + 10
        while port_open("127.0.0.1", self.port) and time.monotonic() < deadline:
            time.sleep(0.05)


class TcpProxy:
    """Forwards 127.0.0.1:<port> to a target. `cut()` closes the listener and every connection (the
    server looks gone: connections are refused); `stall()` keeps accepting but forwards nothing (a
    network that swallows packets); `restore()` forwards again on the same port."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.port = 0
        self.mode = "forward"
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self.accepted = 0

    async def start(self) -> None:
        if self.port == 0:
            with socket.socket() as s:
                s.bind(("127.0.0.1", 0))
                self.port = int(s.getsockname()[1])
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", self.port, reuse_address=True)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.accepted += 1
        self._writers.add(writer)
        upstream: asyncio.StreamWriter | None = None
        try:
            if self.mode == "stall":
                await reader.read()  # swallow until the client gives up or the proxy drops it
                return
            up_reader, upstream = await asyncio.wait_for(asyncio.open_connection(*self.target), 5)
            self._writers.add(upstream)
            pipes = {
                asyncio.create_task(self._pipe(reader, upstream)),
                asyncio.create_task(self._pipe(up_reader, writer)),
            }
            self._tasks |= pipes
            try:
                await asyncio.gather(*pipes, return_exceptions=True)
            finally:
                self._tasks -= pipes
        except (OSError, TimeoutError, asyncio.IncompleteReadError):
            pass
        finally:
            for w in (writer, upstream):
                if w is not None:
                    self._writers.discard(w)
                    w.transport.abort()

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                data = await reader.read(65536)
                if not data:
                    break
                if self.mode == "stall":  # a stalled network drops what is in flight
                    await asyncio.sleep(3600)
                writer.write(data)
                await writer.drain()
        finally:
            writer.transport.abort()

    def _drop_connections(self) -> None:
        for writer in list(self._writers):
            writer.transport.abort()
        self._writers.clear()
        for task in list(self._tasks):  # a stalled pipe sleeps; wake it so its connection handler ends
            task.cancel()

    async def _close_listener(self) -> None:
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._server.wait_closed(), 5)
            self._server = None

    async def cut(self) -> None:
        """Refuse new connections and drop every open one."""
        await self._close_listener()
        self._drop_connections()
        await asyncio.sleep(0)

    async def stall(self) -> None:
        """Keep accepting, forward nothing: clients wait until their own timeouts fire."""
        self.mode = "stall"
        if self._server is None:
            await self.start()

    async def restore(self) -> None:
        self.mode = "forward"
        self._drop_connections()  # stalled connections are useless; clients reconnect
        if self._server is None:
            await self.start()

    async def close(self) -> None:
        await self.cut()
