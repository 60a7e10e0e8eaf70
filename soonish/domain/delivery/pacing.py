"""Per-destination budgets: every request a transport makes is charged against the budgets of
where it goes (a platform's global or app-wide limit, a route or channel, a host), waits until
all of them have room, and waits again when the destination answers "too many" (Retry-After,
Discord's rate-limit headers, SMTP's temporary 4xx). A wait is not a failure: the request is
then made once more.

Budgets are moving windows from the ``limits`` library. With a Redis URL they are shared by
every worker process on every host; without one (the embedded default) each process has its
own, so N workers may together send N times a budget (README, "Delivery budgets").

"Hold until" (a destination told us when to come back) is not a window count, so it is kept
beside the windows: one key per budget with the moment it opens again, in the same Redis
(millisecond expiry, which ``limits``' storage API has only in whole seconds) or in memory.
"""
import asyncio
import functools
import hashlib
import logging
import math
import random
import time
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from dataclasses import dataclass, field, replace

import redis.asyncio
from limits import RateLimitItem, RateLimitItemPerSecond, parse
from limits.errors import StorageError
from limits.aio.storage import MemoryStorage, RedisStorage
from limits.aio.strategies import MovingWindowRateLimiter

from soonish.domain.delivery.outcomes import RetryAfter

log = logging.getLogger(__name__)

# A window that is full is looked at again this soon at the earliest (a little spread, so the
# sends waiting on one budget do not all ask at the same instant).
MIN_PAUSE_SECONDS = 0.01
PAUSE_SPREAD_SECONDS = 0.02
# A send that waited for room goes this fraction of the window after it opens: a request
# reaches the destination some milliseconds after its turn, more or fewer on a busy worker, and
# a destination counting in fixed windows would see the late ones of one window in the next.
WINDOW_MARGIN = 0.05
# A destination that asks us to wait longer than this inside a batch gets the send handed back
# (the batch ends "retrying" and Temporal runs it again later; the hold is remembered).
MAX_WAIT_IN_BATCH_SECONDS = 150.0
# A send is told "wait" at most this many times in a row before it is handed back.
MAX_WAITS_PER_REQUEST = 5
# A refused bot token stays refused for the broadcast this long (longer than any broadcast's
# retries); the key then expires by itself.
REFUSED_TOKEN_SECONDS = 6 * 3600
# Connections to Redis per worker process, and how long a send waits for a free one.
REDIS_CONNECTIONS = 16
REDIS_WAIT_SECONDS = 10
# With Redis unreachable, budgets are per process for this long before Redis is tried again.
SHARED_RETRY_SECONDS = 30
# Waits this long or longer are written to the ledger as they begin, for the organizer's view.
LONG_WAIT_SECONDS = 5.0
# A destination that answers "too many" to a request our budgets let through allows less than
# them: those budgets count at half their rate (down to 1 a window), halved again by a "too
# many" after the last halving's wait, back to their settings this long after the last one.
SLOWED_FOR_SECONDS = 60.0


@dataclass(frozen=True)
class Budget:
    """One limit a request is charged against: ``key`` names what it counts (``slack:app``,
    ``slack:channel:C1``, ``host:example.org``), ``label`` whose limit it is, for people."""

    key: str
    limit: RateLimitItem
    label: str


@dataclass(frozen=True)
class BudgetSettings:
    """The limits, as ``limits`` strings ("1 per second"). Defaults are the platforms' published
    limits; webhook and SMTP hosts publish none, so theirs are our choice (settings override)."""

    slack_app: str = "5 per second"  # "several hundred messages a minute" per workspace
    slack_channel: str = "1 per second"  # chat.postMessage: 1 a second per channel
    discord_global: str = "50 per second"  # per bot, every route
    telegram_bot: str = "30 per second"
    telegram_chat: str = "1 per second"
    webhook_host: str = "100 per second"
    smtp_host: str = "100 per second"
    storage_url: str = ""  # redis://host:6379/0; empty: in process
    key_prefix: str = "soonish-budget"
    smtp_temporary_wait: float = 1.0  # an SMTP 4xx says "later" but not when
    # Each big mailbox provider's own pace (domain.mail_reputation.MAILBOX_PROVIDERS), on top of
    # our mail server's: none publishes a rate; these keep well under what they throttle.
    mailbox_providers: tuple[tuple[str, str], ...] = (
        ("gmail", "20 per second"), ("microsoft", "10 per second"), ("yahoo", "10 per second"),
        ("icloud", "10 per second"),
    )

    @classmethod
    def from_config(cls, config) -> "BudgetSettings":
        return cls(
            slack_app=config["BUDGET_SLACK_APP"], slack_channel=config["BUDGET_SLACK_CHANNEL"],
            discord_global=config["BUDGET_DISCORD_GLOBAL"], telegram_bot=config["BUDGET_TELEGRAM_BOT"],
            telegram_chat=config["BUDGET_TELEGRAM_CHAT"], webhook_host=config["BUDGET_WEBHOOK_HOST"],
            smtp_host=config["BUDGET_SMTP_HOST"], storage_url=config["BUDGET_REDIS_URL"],
            key_prefix=config["BUDGET_KEY_PREFIX"], smtp_temporary_wait=float(config["SMTP_TEMPORARY_WAIT_SECONDS"]),
            mailbox_providers=tuple((provider, config[f"BUDGET_MAILBOX_{provider.upper()}"])
                                    for provider, _ in cls.mailbox_providers),
        )


# Settings are a handful of strings, parsed once each.
_parse_limit = functools.lru_cache(maxsize=64)(parse)


# The budget a follower's own mail (and email channels) is charged to, counted ahead of a
# reminder's sends (``least_seconds``); webhook and other HTTP hosts count as "host:<name>".
MAIL_SERVER = "smtp"


def least_seconds(sends: dict[str, int], settings: BudgetSettings) -> float:
    """The least time ``sends`` (a count per budget: MAIL_SERVER or "host:<name>") can take
    under their budgets: the busiest budget's count over its rate."""
    def rate(budget: str) -> float:
        limit = _parse_limit(settings.smtp_host if budget == MAIL_SERVER else settings.webhook_host)
        return limit.amount / limit.get_expiry()

    return max((count / rate(budget) for budget, count in sends.items()), default=0.0)


def token_fingerprint(token: str) -> str:
    """A bot token as a key part: never the token itself."""
    return hashlib.sha256(token.encode()).hexdigest()[:16]


@dataclass
class SendPacing:
    """One send's waits (for the ledger), the broadcast it belongs to (a refused token stops
    that broadcast's sends), and who to tell when a long wait begins."""

    broadcast: str = ""
    waits: int = 0
    waited_seconds: float = 0.0
    on_long_wait: Callable[[str, float], Awaitable[None]] | None = None

    async def waiting(self, label: str, seconds: float) -> None:
        self.waits += 1
        if seconds >= LONG_WAIT_SECONDS and self.on_long_wait is not None:
            await self.on_long_wait(label, seconds)


# The send the current task is making (set by the Courier around each delivery).
current_send: ContextVar[SendPacing | None] = ContextVar("current_send", default=None)


class _MemoryHolds:
    def __init__(self) -> None:
        self._until: dict[str, float] = {}

    async def hold(self, key: str, until: float) -> bool:
        first = self._until.get(key, 0) <= time.time()
        self._until[key] = max(self._until.get(key, 0), until)
        return first

    async def until(self, keys: list[str]) -> float:
        return max((self._until.get(k, 0.0) for k in keys), default=0.0)


class _RedisHolds:
    def __init__(self, client: redis.asyncio.Redis, prefix: str) -> None:
        self._redis = client
        self._prefix = prefix

    async def hold(self, key: str, until: float) -> bool:
        """Hold ``key`` until ``until`` (epoch seconds); True when it was not held already."""
        ms = max(1, math.ceil((until - time.time()) * 1000))
        current = await self._redis.get(self._prefix + key)
        if current is not None and float(current) >= until:
            return False
        await self._redis.set(self._prefix + key, repr(until), px=ms)
        return current is None

    async def until(self, keys: list[str]) -> float:
        values = await self._redis.mget([self._prefix + k for k in keys]) if keys else []
        return max((float(v) for v in values if v is not None), default=0.0)


class Pacer:
    """The budgets of one worker process (shared with the others through Redis when set)."""

    def __init__(self, settings: BudgetSettings = BudgetSettings()) -> None:
        self.settings = settings
        prefix = settings.key_prefix
        self._local = _Store(MovingWindowRateLimiter(MemoryStorage()), _MemoryHolds())
        self._shared: _Store | None = None
        self._pool: redis.asyncio.BlockingConnectionPool | None = None
        if settings.storage_url:
            # A few connections, waited for: hundreds of sends in flight each asking Redis
            # would otherwise open hundreds of connections (or fail with "Too many connections").
            self._pool = redis.asyncio.BlockingConnectionPool.from_url(
                settings.storage_url, max_connections=REDIS_CONNECTIONS, timeout=REDIS_WAIT_SECONDS)
            url = settings.storage_url.replace("redis://", "async+redis://", 1)
            storage = RedisStorage(url, implementation="redispy", key_prefix=prefix, connection_pool=self._pool)
            self._shared = _Store(MovingWindowRateLimiter(storage),
                                  _RedisHolds(redis.asyncio.Redis(connection_pool=self._pool), f"{prefix}:hold:"))
        self._shared_down_until = 0.0
        # Route limits the destination told us (Discord's X-RateLimit-Limit and its window).
        self._learned: dict[str, RateLimitItem] = {}
        # Budgets slowed by a destination's "too many": key -> (lowered limit, lowered at, until),
        # monotonic times, in this process.
        self._slowed: dict[str, tuple[RateLimitItem, float, float]] = {}
        self._probes: dict[str, asyncio.Lock] = {}

    def budget(self, key: str, limit: str, label: str) -> Budget:
        return Budget(key, _parse_limit(limit), label)

    def host_budget(self, host: str) -> Budget:
        """A webhook receiver's (or any HTTP host's): each host has a budget of its own."""
        return self.budget(f"host:{host.lower()}", self.settings.webhook_host, host)

    def learn(self, route: "Route", limit: int, reset_after: float) -> None:
        """The destination announced a route's limit (Discord's X-RateLimit-Limit); the longest
        Reset-After seen is its window. Learned per route template, counted per route."""
        seconds = max(1, math.ceil(reset_after))
        known = self._learned.get(route.template)
        if known is None or known.amount != limit or known.multiples < seconds:
            self._learned[route.template] = RateLimitItemPerSecond(limit, seconds)

    def slow_down(self, budget: Budget, waited: float) -> None:
        """The destination allows less than ``budget``: halve it, unless it was halved within
        ``waited`` seconds (the requests in flight meanwhile meet the same refusal)."""
        now = time.monotonic()
        lowered, since, _ = self._slowed.get(budget.key, (budget.limit, -math.inf, 0.0))
        if now - since >= waited:
            lowered, since = type(lowered)(max(1, lowered.amount // 2), lowered.multiples), now
        self._slowed[budget.key] = (lowered, since, now + SLOWED_FOR_SECONDS)

    def _current(self, budget: Budget) -> Budget:
        slowed = self._slowed.get(budget.key)
        if slowed is None or slowed[2] <= time.monotonic():
            return budget
        return replace(budget, limit=slowed[0])

    async def _in_store(self, call: Callable[["_Store"], Awaitable]):
        """``call`` on the shared store, or on this process's own while Redis is unreachable
        (sends go on, paced per process, rather than stop; logged when it happens)."""
        if self._shared is None or time.monotonic() < self._shared_down_until:
            return await call(self._local)
        try:
            return await call(self._shared)
        except (redis.exceptions.RedisError, StorageError, OSError) as exc:
            self._shared_down_until = time.monotonic() + SHARED_RETRY_SECONDS
            log.warning("delivery budgets: Redis unreachable (%s); budgets are per process for the next %ds",
                        type(exc).__name__, SHARED_RETRY_SECONDS)
            return await call(self._local)

    async def hold(self, key: str, seconds: float) -> None:
        """The destination said: nothing more on ``key`` for ``seconds``."""
        await self._in_store(lambda store: store.holds.hold(key, time.time() + seconds))

    async def wait_unheld(self, budget: Budget) -> None:
        """Wait while ``budget`` is held, without charging it (a send that would otherwise wait
        for it while holding a shared connection)."""
        while (left := await self._in_store(lambda store: store.holds.until([budget.key])) - time.time()) > 0:
            await asyncio.sleep(left + random.uniform(0, PAUSE_SPREAD_SECONDS))

    async def refuse_token(self, scope: str) -> bool:
        """Stop sends on a refused token for a broadcast; True for the first to say so."""
        until = time.time() + REFUSED_TOKEN_SECONDS
        return await self._in_store(lambda store: store.holds.hold(f"refused:{scope}", until))

    async def is_refused(self, scope: str) -> bool:
        return await self._in_store(lambda store: store.holds.until([f"refused:{scope}"])) > time.time()

    async def wait_turn(self, budgets: list[Budget], route: "Route | None" = None) -> None:
        """Wait until every budget has room and no hold is on any of them, then charge them.
        Budgets are tried narrowest first (as given), tested before any is charged, so a send
        held back by its channel does not use up the app-wide budget meanwhile."""
        send = current_send.get()
        if route is not None and route.template in self._learned:
            budgets = [Budget(route.key, self._learned[route.template], route.label), *budgets]
        keys = [b.key for b in budgets] + ([route.key] if route is not None else [])
        began = time.monotonic()
        told = False
        while True:
            # Looked up on every try: a budget may be slowed while this send waits.
            current = [self._current(b) for b in budgets]
            pause, label = await self._in_store(lambda store: self._pause(store, current, keys))
            if pause <= 0:
                break
            if send is not None and not told:
                told = True
                await send.waiting(label, pause)
            await asyncio.sleep(pause + random.uniform(0, PAUSE_SPREAD_SECONDS))
        if send is not None:
            send.waited_seconds += time.monotonic() - began

    @staticmethod
    async def _pause(store: "_Store", budgets: list[Budget], keys: list[str]) -> tuple[float, str]:
        """How long to wait before trying again (0: charged, go), and whose limit it is."""
        held = await store.holds.until(keys) - time.time()
        if held > 0:
            return held, budgets[-1].label
        if len(budgets) > 1:  # (one budget: the hit below is its test)
            for budget in budgets:
                if not await store.limiter.test(budget.limit, budget.key):
                    return await _until_room(store, budget), budget.label
        for budget in budgets:
            if not await store.limiter.hit(budget.limit, budget.key):
                return await _until_room(store, budget), budget.label
        return 0.0, ""

    async def send(self, budgets: list[Budget], request: Callable[[], Awaitable["Answer"]],
                   route: "Route | None" = None) -> object:
        """Make ``request`` within ``budgets`` (and its route's, once the destination has said
        what that is): wait for room, make it, and when the answer says "wait", hold the budget
        it names and make it again. A wait longer than a batch should sit on is handed back as
        the RetryAfter it is."""
        waits = 0
        while True:
            await self.wait_turn(budgets, route)
            answer = await self._request(request, route)
            if answer is None:
                continue  # the route's limit became known meanwhile: be charged to it first
            for key, seconds in answer.holds:
                await self.hold(key, seconds)
            if not isinstance(answer.result, RetryAfter):
                return answer.result
            waits += 1
            told = answer.result
            if answer.slows:
                for budget in budgets:
                    self.slow_down(budget, told.seconds)
            if told.seconds > MAX_WAIT_IN_BATCH_SECONDS or waits > MAX_WAITS_PER_REQUEST:
                return told
            if not answer.holds:  # no finer budget named: the narrowest one waits
                await self.hold(budgets[0].key, told.seconds)
            # The wait itself is spent (and counted) in the next wait_turn, on the hold just set.

    async def _request(self, request: Callable[[], Awaitable["Answer"]], route: "Route | None") -> "Answer | None":
        if route is None or route.template in self._learned:
            return await request()
        # Until a route's limit is known, one request at a time per process finds it out
        # (a first burst of 50 would meet the limit with 429s).
        async with self._probes.setdefault(route.template, asyncio.Lock()):
            if route.template in self._learned:
                return None
            return await request()

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.aclose()


@dataclass(frozen=True)
class _Store:
    """Where budgets are counted: Redis (shared) or this process's memory."""

    limiter: MovingWindowRateLimiter
    holds: "_MemoryHolds | _RedisHolds"


async def _until_room(store: _Store, budget: Budget) -> float:
    stats = await store.limiter.get_window_stats(budget.limit, budget.key)
    margin = budget.limit.get_expiry() * WINDOW_MARGIN
    return max(MIN_PAUSE_SECONDS, stats.reset_time - time.time()) + margin


@dataclass(frozen=True)
class Route:
    """A destination's own bucket, whose limit it announces in its answers (Discord):
    ``template`` is the route ("POST /channels/{id}/messages"), ``key`` the route with its
    major parameter (the one channel), which is what is counted."""

    template: str
    key: str
    label: str


@dataclass
class Answer:
    """What one request came back with: its result (a parsed body, or an Outcome), and the
    budgets the destination asked us to leave alone, for how long."""

    result: object
    holds: list[tuple[str, float]] = field(default_factory=list)
    # The destination allows less than the budgets charged (Slack's 429): slow them down.
    slows: bool = False
