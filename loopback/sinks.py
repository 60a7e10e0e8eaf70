"""Real receivers for what Soonish sends: an SMTP server (aiosmtpd) and an HTTP sink (aiohttp).

Both run on loopback in their own threads and record what they received.
"""
import asyncio
import json
import os
import smtplib
import socket
import threading
import time
import uuid
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


def first_seen(watched: dict, timeout: float) -> dict[str, datetime]:
    """When each of ``watched``'s conditions (by name) first held, watching them all together:
    things due at about the same time each get the moment they arrived."""
    seen: dict[str, datetime] = {}

    def all_seen() -> bool:
        for name, condition in watched.items():
            if name not in seen and condition():
                seen[name] = datetime.now(timezone.utc)
        return len(seen) == len(watched)

    wait_until(all_seen, timeout, message=f"each of {sorted(watched)}")
    return seen


class SmtpSink:
    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.raw: list[bytes] = []  # each mail's bytes as they arrived (a signature covers these)
        self._lock = threading.Lock()
        self.port = free_port()
        self._controller = Controller(self, hostname="127.0.0.1", port=self.port)

    async def handle_DATA(self, server, session, envelope):
        message = BytesParser(policy=policy.default).parsebytes(envelope.content)
        with self._lock:
            self.raw.append(envelope.original_content or envelope.content)
            for recipient in envelope.rcpt_tos:
                copy = BytesParser(policy=policy.default).parsebytes(envelope.content)
                copy["X-Envelope-To"] = recipient
                copy["X-Envelope-From"] = envelope.mail_from  # the return path bounces go to
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
            self.raw.clear()

    def to(self, address: str) -> list[EmailMessage]:
        with self._lock:
            return [m for m in self.messages if m["X-Envelope-To"] == address]

    def wait_for(self, count: int, timeout: float = 30) -> list[EmailMessage]:
        wait_until(lambda: len(self.messages) >= count, timeout, message=f"{count} mails")
        with self._lock:
            return list(self.messages)


def postfix_dsn(mail_from: str, recipient: str, returned: bytes) -> bytes:
    """A delivery status notification as Postfix's bounce(8) writes it (tests/bounces/
    postfix_user_unknown.eml): 550 5.1.1 for ``recipient``, to the return path ``mail_from``."""
    headers = returned.split(b"\r\n\r\n", 1)[0].split(b"\n\n", 1)[0].decode("utf-8", "replace")
    boundary = f"{uuid.uuid4().hex}/mx.fake-mta.test"
    return (
        f"From: MAILER-DAEMON@mx.fake-mta.test (Mail Delivery System)\r\n"
        f"To: {mail_from}\r\nSubject: Undelivered Mail Returned to Sender\r\nAuto-Submitted: auto-replied\r\n"
        f"MIME-Version: 1.0\r\n"
        f'Content-Type: multipart/report; report-type=delivery-status; boundary="{boundary}"\r\n\r\n'
        f"--{boundary}\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n"
        f"This is the mail system at host mx.fake-mta.test.\r\n\r\n"
        f"<{recipient}>: host store.fake-mta.test said: 550 5.1.1 <{recipient}>: Recipient address\r\n"
        f"    rejected: User unknown in virtual mailbox table (in reply to RCPT TO command)\r\n\r\n"
        f"--{boundary}\r\nContent-Type: message/delivery-status\r\n\r\n"
        f"Reporting-MTA: dns; mx.fake-mta.test\r\n\r\n"
        f"Final-Recipient: rfc822; {recipient}\r\nOriginal-Recipient: rfc822;{recipient}\r\n"
        f"Action: failed\r\nStatus: 5.1.1\r\nRemote-MTA: dns; store.fake-mta.test\r\n"
        f"Diagnostic-Code: smtp; 550 5.1.1 <{recipient}>: Recipient address rejected: User unknown\r\n\r\n"
        f"--{boundary}\r\nContent-Type: text/rfc822-headers\r\n\r\n{headers}\r\n\r\n--{boundary}--\r\n"
    ).encode()


class FakeMta(SmtpSink):
    """A receiving mail server with dead mailboxes: it refuses the ``refused`` addresses at RCPT
    (550 5.1.1, as Gmail and Postfix do for an unknown user), and takes mail for the ``bounced``
    ones only to mail a DSN back later to the envelope sender, through the bounce domain's MX
    (``mail_in``: host, port), as a relay that accepts first and delivers after does."""

    def __init__(self, refused=(), bounced=(), mail_in: tuple[str, int] | None = None, deferred=()) -> None:
        super().__init__()
        self.refused = {a.lower() for a in refused}
        # Answered "try later" once each (450 4.7.1, as Gmail and Outlook defer a sender).
        self.deferred = {a.lower() for a in deferred}
        self.bounced = {a.lower() for a in bounced}
        self.mail_in = mail_in
        self.dsns_sent = 0
        self.refusals = 0

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address.lower() in self.deferred:
            self.deferred.discard(address.lower())
            return "450 4.7.1 Try again later: too many messages from your IP"
        if address.lower() in self.refused:
            self.refusals += 1
            return f"550 5.1.1 <{address}>: Recipient address rejected: User unknown in virtual mailbox table"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        bounced = [r for r in envelope.rcpt_tos if r.lower() in self.bounced]
        envelope.rcpt_tos = [r for r in envelope.rcpt_tos if r.lower() not in self.bounced]
        answer = await super().handle_DATA(server, session, envelope) if envelope.rcpt_tos else "250 OK"
        for recipient in bounced:
            dsn = postfix_dsn(envelope.mail_from, recipient, envelope.content)
            await asyncio.to_thread(self._mail_back, envelope.mail_from, dsn)
        return answer

    def _mail_back(self, to: str, dsn: bytes) -> None:
        with smtplib.SMTP(*self.mail_in, timeout=10) as smtp:
            smtp.sendmail("", [to], dsn)
        with self._lock:
            self.dsns_sent += 1


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
        self._generation = 0  # bumped by clear(): a slow request of an earlier test isn't counted in the next

    async def _handle(self, request: web.Request) -> web.Response:
        generation = self._generation
        raw = await request.read()
        if self.delay:
            await asyncio.sleep(self.delay)
        with self._lock:
            if generation != self._generation:
                return web.Response(status=503, text="the test that sent this has ended")
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
            self._generation += 1
