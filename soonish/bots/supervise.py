"""Keeps a bot process up through a failed login or a platform outage.

A bot that can't log in (a revoked token, the platform down, no network yet) must not take the
rest of Soonish with it, nor give up: it logs why, waits, and tries again, each wait twice the
last (1 s up to 5 minutes) so a bad token doesn't hammer the platform; Discord counts failed
logins toward its invalid-request ban). SIGINT or SIGTERM stops it at once, even while waiting.
"""
import logging
import signal
import threading
from collections.abc import Callable

log = logging.getLogger(__name__)

FIRST_RETRY_SECONDS = 1.0
LONGEST_RETRY_SECONDS = 300.0


def run_with_retries(serve: Callable[[], None], name: str) -> None:
    """Call ``serve`` (which returns when stopped by a signal, raises when it fails) until it
    returns, waiting longer after each failure."""
    stopping = threading.Event()
    delay = FIRST_RETRY_SECONDS
    while True:
        try:
            serve()
            return
        except Exception as exc:  # any failure: log it and try again, never exit
            log.error("%s bot failed (%s: %s); retrying in %.0f s", name, type(exc).__name__, exc, delay)
        # ``serve`` installs its own signal handlers and its event loop removes them when it
        # closes, so ours go in again before each wait.
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: stopping.set())
        if stopping.wait(delay):
            return
        delay = min(delay * 2, LONGEST_RETRY_SECONDS)
