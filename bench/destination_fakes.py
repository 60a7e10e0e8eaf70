"""The destinations of bench/destinations.py, faked on loopback in a process of their own, each
enforcing its platform's limits and answering as the platform documents when one is exceeded.

    python bench/destination_fakes.py slack|discord|webhook|smtp --port P [--stats-port S]

Slack (chat.postMessage): per channel 1 a second with a short burst (a bucket of SLACK_BURST),
and an app-wide ceiling of SLACK_APP_PER_SECOND per workspace (per bot token: each workspace's
installation has its own); past either, HTTP 429 with Retry-After
(whole seconds) and ``{"ok": false, "error": "ratelimited"}``.
Discord: the bot's global 50 requests a second (HTTP 429, ``X-RateLimit-Global: true``,
``X-RateLimit-Scope: global``, JSON ``retry_after``), and per-route buckets (opening DMs;
create-message per channel) whose X-RateLimit-Limit/Remaining/Reset-After/Bucket headers come
on every answer, and a 429 with ``retry_after`` past them.
Webhooks: one receiver on 127.0.0.1 … 127.0.0.5 (five hosts), each 100 a second; past it,
HTTP 429 with ``Retry-After: 1``.
SMTP: 50 messages per connection and 200 a second across connections; past either, 421 to
MAIL FROM (and the client closes, as after any 421).

Limits are fixed windows of one second (the bucket kind the platforms' reset headers describe).
Every request is counted, every refusal too, and every delivery key (Slack's message metadata,
Discord's nonce, ``Idempotency-Key``, ``X-Soonish-Delivery``) to count repeats and losses.
``GET /_stats`` (on the stats port for SMTP) reports them; ``POST /_reset`` starts again.
"""
import argparse
import asyncio
import itertools
import math
import re
import time

from aiohttp import web

SLACK_APP_PER_SECOND = 5
SLACK_CHANNEL_PER_SECOND = 1
SLACK_BURST = 3
DISCORD_GLOBAL_PER_SECOND = 50
DISCORD_DM_OPEN_PER_SECOND = 30
DISCORD_CHANNEL_MESSAGES = (5, 5.0)  # per channel: 5 messages per 5 seconds
WEBHOOK_HOSTS = [f"127.0.0.{n}" for n in range(1, 6)]
WEBHOOK_PER_SECOND = 100
SMTP_PER_CONNECTION = 50
SMTP_PER_SECOND = 200

KEY_HEADER = re.compile(rb"^X-Soonish-Delivery:\s*(\S+)", re.MULTILINE | re.IGNORECASE)


class Tally:
    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.requests = 0
        self.too_many = 0
        self.too_many_by: dict[str, int] = {}  # which limit said no
        self.keys: set[str] = set()
        self.delivered = 0
        self.repeats = 0
        self.first: float | None = None
        self.last: float | None = None

    def request(self) -> None:
        self.requests += 1

    def refused(self, limit: str) -> None:
        self.too_many += 1
        self.too_many_by[limit] = self.too_many_by.get(limit, 0) + 1

    def deliver(self, key: str | None) -> None:
        now = time.time()
        self.first = self.first or now
        self.last = now
        self.delivered += 1
        if key in self.keys:
            self.repeats += 1
        elif key is not None:
            self.keys.add(key)

    def stats(self) -> dict:
        return {"requests": self.requests, "too_many": self.too_many, "too_many_by": self.too_many_by,
                "delivered": self.delivered,
                "unique": len(self.keys), "repeats": self.repeats, "first": self.first, "last": self.last}


class FixedWindows:
    """``limit`` per ``seconds`` per key, in windows aligned to the clock."""

    def __init__(self, limit: int, seconds: float = 1.0) -> None:
        self.limit, self.seconds = limit, seconds
        self._used: dict[str, tuple[int, int]] = {}  # key -> (window number, used in it)

    def take(self, key: str = "") -> tuple[bool, int, float]:
        """(allowed, remaining after this one, seconds until the window resets)."""
        now = time.time()
        window = math.floor(now / self.seconds)
        number, used = self._used.get(key, (window, 0))
        if number != window:
            used = 0
        reset_after = (window + 1) * self.seconds - now
        if used >= self.limit:
            self._used[key] = (window, used)
            return False, 0, reset_after
        self._used[key] = (window, used + 1)
        return True, self.limit - used - 1, reset_after


class TokenBucket:
    """``rate`` a second with bursts of up to ``burst``, per key (Slack's "short bursts")."""

    def __init__(self, rate: float, burst: int) -> None:
        self.rate, self.burst = rate, burst
        self._state: dict[str, tuple[float, float]] = {}  # key -> (tokens, at)

    def take(self, key: str) -> tuple[bool, float]:
        now = time.monotonic()
        tokens, at = self._state.get(key, (float(self.burst), now))
        tokens = min(self.burst, tokens + (now - at) * self.rate)
        if tokens >= 1:
            self._state[key] = (tokens - 1, now)
            return True, 0.0
        self._state[key] = (tokens, now)
        return False, (1 - tokens) / self.rate


def control(app: web.Application, tally: Tally, on_reset=None) -> None:
    async def stats(_request):
        return web.json_response(tally.stats())

    async def reset(_request):
        tally.reset()
        if on_reset:
            on_reset()
        return web.json_response({"ok": True})

    app.router.add_get("/_stats", stats)
    app.router.add_post("/_reset", reset)


def slack_app(tally: Tally) -> web.Application:
    limits = {"app": FixedWindows(SLACK_APP_PER_SECOND), "channel": TokenBucket(SLACK_CHANNEL_PER_SECOND, SLACK_BURST)}

    async def post_message(request: web.Request) -> web.Response:
        tally.request()
        token = request.headers.get("Authorization", "").removeprefix("Bearer ")
        if not token.startswith("xoxb-"):
            return web.json_response({"ok": False, "error": "not_authed"})
        body = await request.json()
        allowed, _, app_wait = limits["app"].take(token)
        channel_ok, channel_wait = limits["channel"].take(f"{token}:{body['channel']}") if allowed else (True, 0.0)
        if not (allowed and channel_ok):
            tally.refused("app" if not allowed else "channel")
            wait = app_wait if not allowed else channel_wait
            return web.json_response({"ok": False, "error": "ratelimited"}, status=429,
                                     headers={"Retry-After": str(max(1, math.ceil(wait)))})
        tally.deliver(body.get("metadata", {}).get("event_payload", {}).get("delivery_key"))
        return web.json_response({"ok": True, "channel": body["channel"], "ts": f"{time.time():.6f}"})

    app = web.Application()
    app.router.add_post("/api/chat.postMessage", post_message)
    control(app, tally, lambda: limits.update(
        app=FixedWindows(SLACK_APP_PER_SECOND), channel=TokenBucket(SLACK_CHANNEL_PER_SECOND, SLACK_BURST)))
    return app


def discord_app(tally: Tally) -> web.Application:
    state = {}
    ids = itertools.count(800000000000000001)

    def fresh() -> None:
        state.update(glob=FixedWindows(DISCORD_GLOBAL_PER_SECOND), dm=FixedWindows(DISCORD_DM_OPEN_PER_SECOND),
                     channel=FixedWindows(*DISCORD_CHANNEL_MESSAGES), dms={})

    fresh()

    def limited(route: FixedWindows, key: str, bucket: str) -> tuple[web.Response | None, dict]:
        """The global limit, then the route's; a 429 as Discord sends it, or the bucket's headers."""
        ok, _, reset_after = state["glob"].take()
        if not ok:
            tally.refused("global")
            return web.json_response(
                {"message": "You are being rate limited.", "retry_after": round(reset_after, 3), "global": True},
                status=429, headers={"X-RateLimit-Global": "true", "X-RateLimit-Scope": "global",
                                     "Retry-After": str(max(1, math.ceil(reset_after)))}), {}
        ok, remaining, reset_after = route.take(key)
        headers = {"X-RateLimit-Limit": str(route.limit), "X-RateLimit-Remaining": str(remaining),
                   "X-RateLimit-Reset": f"{time.time() + reset_after:.3f}",
                   "X-RateLimit-Reset-After": f"{reset_after:.3f}", "X-RateLimit-Bucket": bucket}
        if not ok:
            tally.refused(bucket)
            return web.json_response(
                {"message": "You are being rate limited.", "retry_after": round(reset_after, 3), "global": False},
                status=429, headers={**headers, "X-RateLimit-Scope": "user",
                                     "Retry-After": str(max(1, math.ceil(reset_after)))}), headers
        return None, headers

    def authorized(request: web.Request) -> bool:
        return request.headers.get("Authorization") == "Bot discord-bench-token"

    async def open_dm(request: web.Request) -> web.Response:
        tally.request()
        if not authorized(request):
            return web.json_response({"message": "401: Unauthorized", "code": 0}, status=401)
        too_many, headers = limited(state["dm"], "", "dm-open-bucket")
        if too_many:
            return too_many
        recipient = (await request.json())["recipient_id"]
        channel = state["dms"].setdefault(recipient, str(next(ids)))
        return web.json_response({"id": channel, "type": 1, "recipients": [{"id": recipient}]}, headers=headers)

    async def create_message(request: web.Request) -> web.Response:
        tally.request()
        if not authorized(request):
            return web.json_response({"message": "401: Unauthorized", "code": 0}, status=401)
        channel = request.match_info["channel"]
        too_many, headers = limited(state["channel"], channel, "create-message-bucket")
        if too_many:
            return too_many
        body = await request.json()
        tally.deliver(body.get("nonce"))
        return web.json_response({"id": str(next(ids)), "channel_id": channel, "content": body.get("content", "")},
                                 headers=headers)

    app = web.Application()
    app.router.add_post("/api/v10/users/@me/channels", open_dm)
    app.router.add_post("/api/v10/channels/{channel}/messages", create_message)
    control(app, tally, fresh)
    return app


def webhook_app(tally: Tally) -> web.Application:
    state = {"hosts": FixedWindows(WEBHOOK_PER_SECOND)}

    async def receive(request: web.Request) -> web.Response:
        tally.request()
        await request.read()
        host = request.transport.get_extra_info("sockname")[0]
        ok, _, reset_after = state["hosts"].take(host)
        if not ok:
            tally.refused(host)
            return web.Response(status=429, text="too many requests",
                                headers={"Retry-After": str(max(1, math.ceil(reset_after)))})
        tally.deliver(request.headers.get("Idempotency-Key"))
        return web.Response(text="ok")

    app = web.Application()
    control(app, tally, lambda: state.update(hosts=FixedWindows(WEBHOOK_PER_SECOND)))
    app.router.add_post("/{tail:.*}", receive)
    return app


async def serve(app: web.Application, hosts: list[str], port: int) -> None:
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    for host in hosts:
        await web.TCPSite(runner, host, port, backlog=1024).start()


async def serve_smtp(tally: Tally, port: int, stats_port: int) -> None:
    from aiosmtpd.smtp import SMTP

    state = {"rate": FixedWindows(SMTP_PER_SECOND)}

    class Handler:
        async def handle_MAIL(self, server, session, envelope, address, mail_options):
            tally.request()
            sent = getattr(session, "soonish_sent", 0)
            if sent >= SMTP_PER_CONNECTION:
                tally.refused("per connection")
                return "421 4.7.0 Too many messages on this connection, closing"
            if not state["rate"].take()[0]:
                tally.refused("per second")
                return "421 4.7.0 Too many messages a second, try again later"
            session.soonish_sent = sent + 1
            envelope.mail_from = address
            envelope.mail_options.extend(mail_options)
            return "250 OK"

        async def handle_DATA(self, server, session, envelope):
            found = KEY_HEADER.search(envelope.content)
            tally.deliver(found.group(1).decode() if found else None)
            return "250 OK"

    loop = asyncio.get_running_loop()
    await loop.create_server(lambda: SMTP(Handler(), hostname="fake-smtp.localhost"), "127.0.0.1", port, backlog=1024)
    app = web.Application()
    control(app, tally, lambda: state.update(rate=FixedWindows(SMTP_PER_SECOND)))
    await serve(app, ["127.0.0.1"], stats_port)


async def main(kind: str, port: int, stats_port: int | None) -> None:
    tally = Tally()
    if kind == "smtp":
        await serve_smtp(tally, port, stats_port)
    else:
        app = {"slack": slack_app, "discord": discord_app, "webhook": webhook_app}[kind](tally)
        await serve(app, WEBHOOK_HOSTS if kind == "webhook" else ["127.0.0.1"], port)
    print(f"{kind} fake on {port}", flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("kind", choices=["slack", "discord", "webhook", "smtp"])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--stats-port", type=int)
    options = parser.parse_args()
    asyncio.run(main(options.kind, options.port, options.stats_port))
