"""Is this process able to serve? Liveness needs nothing but the process; readiness checks the
database and the Temporal server, each at most once per READINESS_CACHE_SECONDS per process.

Load balancers and Kubernetes probe every process often (wrk at ~1,200 probes/s once made
Temporal answer "service rate limit exceeded" to 23% of them), so a probe reads a cached state:
one probe per interval runs the check, the others answer from the last result meanwhile.
"""
import logging
import threading
import time
from collections.abc import Callable

from flask import current_app
from sqlalchemy import text

from soonish.models import db
from soonish.services.temporal import gateway

log = logging.getLogger(__name__)

# A stopped server refuses at once; a hung one is given up on after this, so readiness turns
# 503 at most READINESS_CACHE_SECONDS + this after Temporal stops answering.
TEMPORAL_TIMEOUT_SECONDS = 2


def _check_database() -> None:
    # The primary's engine itself: the request's session may be reading from a replica.
    with db.engine.connect() as connection:
        connection.execute(text("SELECT 1"))


def _check_temporal() -> None:
    gateway().ping(TEMPORAL_TIMEOUT_SECONDS)


class CachedCheck:
    """One dependency's state ("ok" or "failing"), checked at most once per ``ttl`` seconds
    however many threads ask: the first to find it stale runs the check (single flight); the
    others answer the previous state meanwhile, or wait for the first one when there is none."""

    def __init__(self, name: str, check: Callable[[], str | None], ttl: float) -> None:
        self.name = name
        self.check = check
        self.ttl = ttl
        self._state: str | None = None
        self._checked_at = 0.0
        self._refreshing = threading.Lock()

    def state(self) -> str:
        if self._fresh():
            return self._state
        # Without a previous state there is nothing to answer with: wait for the check.
        if self._refreshing.acquire(blocking=self._state is None):
            try:
                if not self._fresh():  # another thread may have refreshed it while we waited
                    self._state = self._run()
                    self._checked_at = time.monotonic()
            finally:
                self._refreshing.release()
        return self._state

    def _fresh(self) -> bool:
        return self._state is not None and time.monotonic() - self._checked_at < self.ttl

    def take(self, state: str) -> None:
        """Take ``state`` as if checked now (a caller has just seen the dependency fail)."""
        self._state, self._checked_at = state, time.monotonic()

    def _run(self) -> str:
        try:
            state = self.check()
        except Exception:  # any failure at all means not ready; a probe must not crash
            log.warning("readiness check failed: %s", self.name, exc_info=True)
            return "failing"
        return state or "ok"  # a check may name a state of its own


def _cached_checks() -> list[CachedCheck]:
    """This process's checks (one app per process), made at first use."""
    extensions = current_app.extensions
    if "soonish.readiness" not in extensions:
        ttl = float(current_app.config["READINESS_CACHE_SECONDS"])
        extensions["soonish.readiness"] = [
            CachedCheck("database", _check_database, ttl), CachedCheck("temporal", _check_temporal, ttl),
        ]
    return extensions["soonish.readiness"]


def check_dependencies() -> dict[str, str]:
    """Each dependency's state: "ok" or "failing" (the reason goes to the log, not to callers)."""
    return {check.name: check.state() for check in _cached_checks()}
