"""Real receivers for what Soonish sends: an SMTP server (aiosmtpd) and an HTTP sink (aiohttp).

Both run on loopback in their own threads and record what they received.
"""
import asyncio
import json
import os
import socket
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser

from aiohttp import web
from aiosmtpd.controller import Controller


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# Deadlines are for tests that fail: a passing test stops waiting as soon as its condition
# holds, so a long deadline costs it nothing. Each wait names the time its step takes on a
# quiet box; on a shared 2-core box at load 15-20 (other suites and builds beside this one) a
# worker process took over 30 s to start serving and a welcome mail over 30 s to arrive, so
# every deadline stretches by this factor.
PATIENCE = float(os.environ.get("SOONISH_TEST_PATIENCE", "3"))


def wait_until(condition, timeout: float = 30, interval: float = 0.1, message: str = "condition"):
    deadline = time.monotonic() + timeout * PATIENCE
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {message}")
        time.sleep(interval)


class SmtpSink:
    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self._lock = threading.Lock()
        self.port = free_port()
        self._controller = Controller(self, hostname="127.0.0.1", port=self.port)

    async def handle_DATA(self, server, session, envelope):
        message = BytesParser(policy=policy.default).parsebytes(envelope.content)
        with self._lock:
            for recipient in envelope.rcpt_tos:
                copy = BytesParser(policy=policy.default).parsebytes(envelope.content)
                copy["X-Envelope-To"] = recipient
                self.messages.append(copy)
        del message
        return "250 OK"

    def start(self) -> "SmtpSink":
        self._controller.start()
        return self

    def stop(self) -> None:
        self._controller.stop()

    def clear(self) -> None:
        with self._lock:
            self.messages.clear()

    def to(self, address: str) -> list[EmailMessage]:
        with self._lock:
            return [m for m in self.messages if m["X-Envelope-To"] == address]

    def wait_for(self, count: int, timeout: float = 30) -> list[EmailMessage]:
        wait_until(lambda: len(self.messages) >= count, timeout, message=f"{count} mails")
        with self._lock:
            return list(self.messages)


class LoopbackServer:
    """An aiohttp application served on 127.0.0.1 from its own thread and event loop."""

    def __init__(self, app: web.Application, name: str) -> None:
        self.port = free_port()
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True, name=name)
        self._runner = web.AppRunner(app, access_log=None)

    def start(self) -> int:
        async def serve():
            await self._runner.setup()
            await web.TCPSite(self._runner, "127.0.0.1", self.port).start()

        self._thread.start()
        self.run(serve())
        return self.port

    def run(self, coro, timeout: float = 10):
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def stop(self) -> None:
        self.run(self._runner.cleanup())
        self.loop.call_soon_threadsafe(self.loop.stop)


@dataclass
class Received:
    path: str
    headers: dict
    body: dict | str
    status: int
    received_at: datetime = field(default_factory=lambda: datetime.now(timezone.utc))


@dataclass
class HttpSink:
    """Answers 200 to every POST and records it; can be told to fail a stretch of requests."""

    received: list[Received] = field(default_factory=list)
    delay: float = 0.0
    # Requests numbered (1-based) in this range answer 503: a receiver that goes down for a while.
    failing: range = range(0)
    failing_status: int = 503
    retry_after: str | None = None  # the failing answers' Retry-After header, when set
    port: int = 0

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._count = 0

    async def _handle(self, request: web.Request) -> web.Response:
        raw = await request.read()
        if self.delay:
            await asyncio.sleep(self.delay)
        with self._lock:
            self._count += 1
            status = self.failing_status if self._count in self.failing else 200
            try:
                body = json.loads(raw)
            except ValueError:
                body = raw.decode(errors="replace")
            self.received.append(Received(request.path, dict(request.headers), body, status))
        headers = {"Retry-After": self.retry_after} if status != 200 and self.retry_after else {}
        return web.Response(status=status, text="ok" if status == 200 else "unavailable", headers=headers)

    def start(self) -> "HttpSink":
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._server = LoopbackServer(app, "http-sink")
        self.port = self._server.start()
        return self

    def stop(self) -> None:
        self._server.stop()

    def url(self, path: str, scheme: str = "json") -> str:
        return f"{scheme}://127.0.0.1:{self.port}{path}"

    def delivered(self, path: str | None = None) -> list[Received]:
        """Requests answered 200 (to ``path`` if given)."""
        with self._lock:
            return [r for r in self.received if r.status == 200 and (path is None or r.path == path)]

    def clear(self) -> None:
        with self._lock:
            self.received.clear()
            self._count = 0
