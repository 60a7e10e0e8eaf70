"""Lean receivers for the broadcast benchmark, each in its own process so that neither the
bench nor a worker shares a GIL with them.

    python bench/sink.py http --port P             json:// sink; GET /_stats, POST /_reset
    python bench/sink.py smtp --port P --stats-port S   aiosmtpd; stats over HTTP on S
        [--bounce-rate R --mail-in-port M]   a mail server with dead mailboxes (bench/bounces.py)
    python bench/sink.py push --port P --seed S --vapid-key K   the tests' fake push service

A sink counts what it receives, remembers every delivery key (``Idempotency-Key`` header,
``X-Soonish-Delivery`` mail header) to count repeats, and the wall-clock time of the first and
last arrival, so the bench can time "announcement → last recipient's receipt". It does no
parsing beyond finding the key: the sinks must never be the bottleneck. The push sink is the
exception by design: it is loopback/push_service.py, which verifies every request's VAPID JWT and
decrypts every payload (the key is the payload's delivery key) as a push service and a browser
would; that costs it an ECDH and a signature check per message, on the same cores.

A repeat is a copy of a key sent again after a copy of it was answered to a waiting sender. A
copy the sink took after its sender had given up (its connection closed at the sender's
timeout: a starved sink can take a request seconds after it came) is counted as ``late``: the
sender never got its answer and rightly sends it again.
"""
import argparse
import asyncio
import re
import time

from aiohttp import web

KEY_HEADER = re.compile(rb"^X-Soonish-Delivery:\s*(\S+)", re.MULTILINE | re.IGNORECASE)


class Tally:
    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.count = 0
        self.keys: set[str] = set()
        self.repeats = 0
        # Keys of copies answered to a waiting sender (201, 250): only a copy sent again after
        # one of these is a repeat; a copy taken after its sender gave up is counted as late.
        self.answered: set[str] = set()
        self.late = 0
        self.first = None
        self.last = None
        self.bytes = 0
        self.arrivals: dict[str, float] = {}  # key → first arrival (for lateness)

    def add(self, key: str | None, size: int, answered: bool = True) -> None:
        """One copy received; ``answered``: its sender was still waiting for the answer."""
        now = time.time()
        if self.first is None:
            self.first = now
        self.last = now
        self.count += 1
        self.bytes += size
        if not answered:
            self.late += 1
        if key is not None:
            if key in self.answered:
                self.repeats += 1
            if key not in self.keys:
                self.keys.add(key)
                self.arrivals[key] = now
            if answered:
                self.answered.add(key)

    def stats(self) -> dict:
        return {"count": self.count, "unique": len(self.keys), "repeats": self.repeats, "late": self.late,
                "first": self.first, "last": self.last, "bytes": self.bytes}


def control_routes(app: web.Application, tally: Tally, extra=dict) -> None:
    """GET /_stats (with what ``extra()`` adds), GET /_arrivals, POST /_reset."""
    async def stats(_request):
        return web.json_response({**tally.stats(), **extra()})

    async def reset(_request):
        tally.reset()
        return web.json_response({"ok": True})

    async def arrivals(_request):
        return web.json_response(tally.arrivals)

    app.router.add_get("/_stats", stats)
    app.router.add_get("/_arrivals", arrivals)
    app.router.add_post("/_reset", reset)


async def serve_http(port: int) -> None:
    tally = Tally()

    async def receive(request: web.Request) -> web.Response:
        body = await request.read()
        tally.add(request.headers.get("Idempotency-Key"), len(body))
        return web.Response(text="ok")

    app = web.Application()
    control_routes(app, tally)
    app.router.add_post("/{tail:.*}", receive)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port, backlog=1024).start()
    print(f"http sink on {port}", flush=True)
    await asyncio.Event().wait()


def dead_mailbox(address: str, rate: float) -> str | None:
    """With dead mailboxes at ``rate``: "refused" for half of them (550 5.1.1 at RCPT), "bounced"
    for the other half (taken, then a DSN mailed back), by follower number; None for the living.
    Only "follower<n>@" addresses die: a clean audience of another prefix stays clean."""
    match = re.fullmatch(r"follower(\d+)@.*", address)
    if not rate or match is None:
        return None
    step = round(2 / rate)  # 0.04: one in 50 refused, another one in 50 bounced
    n = int(match.group(1)) % step
    return "refused" if n == 0 else "bounced" if n == step // 2 else None


async def serve_smtp(port: int, stats_port: int, bounce_rate: float = 0.0, mail_in_port: int = 0) -> None:
    import smtplib
    import sys
    from pathlib import Path

    from aiosmtpd.smtp import SMTP

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from loopback.sinks import postfix_dsn  # the DSN the tests' fake MTA mails back

    tally = Tally()
    dead = {"refused": 0, "bounced": 0}  # attempts to mail a dead mailbox, since the start

    def mail_back(to: str, dsn: bytes) -> None:
        with smtplib.SMTP("127.0.0.1", mail_in_port, timeout=30) as smtp:
            smtp.sendmail("", [to], dsn)

    class Handler:
        async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
            if dead_mailbox(address, bounce_rate) == "refused":
                dead["refused"] += 1
                return f"550 5.1.1 <{address}>: Recipient address rejected: User unknown in virtual mailbox table"
            envelope.rcpt_tos.append(address)
            return "250 OK"

        async def handle_DATA(self, server, session, envelope):
            for recipient in envelope.rcpt_tos:
                if dead_mailbox(recipient, bounce_rate) == "bounced":
                    dead["bounced"] += 1
                    dsn = postfix_dsn(envelope.mail_from, recipient, envelope.content)
                    asyncio.get_running_loop().run_in_executor(None, mail_back, envelope.mail_from, dsn)
            found = KEY_HEADER.search(envelope.content)
            key = found.group(1).decode() if found else None
            for _ in envelope.rcpt_tos:
                tally.add(key, len(envelope.content))
            return "250 OK"

    loop = asyncio.get_running_loop()
    handler = Handler()
    await loop.create_server(lambda: SMTP(handler, hostname="sink.localhost"), "127.0.0.1", port, backlog=1024)
    app = web.Application()
    control_routes(app, tally)

    async def dead_stats(_request):
        return web.json_response(dead)

    app.router.add_get("/_dead", dead_stats)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", stats_port).start()
    print(f"smtp sink on {port}, stats on {stats_port}", flush=True)
    await asyncio.Event().wait()


async def serve_push(port: int, seed: str, vapid_public_key: str) -> None:
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from loopback.push_service import FakePushService

    tally = Tally()
    service = FakePushService(vapid_public_key=vapid_public_key, port=port, seed=seed,
                              on_push=lambda push: tally.add(push.payload.get("delivery_key"), 0, push.answered))

    app = service.application()
    control_routes(app, tally, lambda: {"refused": len(service.refused)})
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port, backlog=1024).start()
    print(f"push sink on {port}", flush=True)
    await asyncio.Event().wait()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("kind", choices=["http", "smtp", "push"])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--stats-port", type=int)
    parser.add_argument("--seed", help="push: the devices' seed (loopback/push_service.py Device.derived)")
    parser.add_argument("--vapid-key", help="push: the VAPID public key subscriptions were made with")
    parser.add_argument("--bounce-rate", type=float, default=0.0)
    parser.add_argument("--mail-in-port", type=int, default=0)
    args = parser.parse_args()
    if args.kind == "http":
        asyncio.run(serve_http(args.port))
    elif args.kind == "push":
        asyncio.run(serve_push(args.port, args.seed, args.vapid_key))
    else:
        asyncio.run(serve_smtp(args.port, args.stats_port, args.bounce_rate, args.mail_in_port))


if __name__ == "__main__":
    main()
