"""The read replicas of this process (SOONISH_DATABASE_REPLICA_URLS) and whether each may serve
reads now: it answers, is a standby, and lags the primary by at most REPLICA_MAX_LAG_SECONDS.
Each is checked at most once per REPLICA_CHECK_SECONDS (single flight, as readiness checks), and
a change of state is logged once, not on every request.

Lag: nothing left to replay (all WAL received is replayed) is no lag; otherwise the time since
the last transaction it replayed was committed on the primary (pg_last_xact_replay_timestamp).
After a long quiet spell on the primary that overstates the lag of the first new transaction for
a moment: the primary serves meanwhile, which is the safe side."""
import logging
import random
import re

from flask import Flask, current_app
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine, make_url

from soonish.models.base import ping_when_idle
from soonish.services.health import CachedCheck

log = logging.getLogger(__name__)

OK, LAGGING, DOWN, NOT_A_STANDBY = "ok", "lagging", "down", "not_a_standby"
# A replica that does not answer is given up on after this (a stopped one refuses at once).
CONNECT_TIMEOUT_SECONDS = 2
LAG = text(
    "SELECT pg_is_in_recovery(),"
    " CASE WHEN pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() THEN 0"
    " ELSE EXTRACT(EPOCH FROM now() - pg_last_xact_replay_timestamp()) END"
)


def replica_urls(setting) -> list[str]:
    """The setting as a list: given as text (commas or spaces between URLs) or as a list."""
    return [url for url in (re.split(r"[\s,]+", setting) if isinstance(setting, str) else setting) if url]


class Replica:
    def __init__(self, url: str, engine_options: dict, max_lag: float, check_seconds: float) -> None:
        parsed = make_url(url)
        # What logs, /readyz and /metrics call it: never its credentials.
        self.name = f"{parsed.host or 'localhost'}:{parsed.port or 5432}/{parsed.database}"
        connect_args = {"connect_timeout": CONNECT_TIMEOUT_SECONDS, **engine_options.get("connect_args", {})}
        self.engine: Engine = create_engine(url, **{**engine_options, "connect_args": connect_args})
        ping_when_idle(self.engine)
        self.max_lag = max_lag
        self.lag_seconds: float | None = None
        self._last_state: str | None = None
        self.check = CachedCheck(self.name, self._state, check_seconds)

    def state(self) -> str:
        return self.check.state()

    def mark_down(self) -> None:
        """A query on it failed: skip it until the next check says otherwise."""
        self.lag_seconds = None
        self.check.take(self._changed(DOWN, "a query on it failed"))

    def _state(self) -> str:
        try:
            with self.engine.connect() as connection:
                in_recovery, lag = connection.execute(LAG).one()
        except Exception as exc:  # any failure at all: not usable now; the primary serves
            self.lag_seconds = None
            return self._changed(DOWN, f"{type(exc).__name__}: {str(exc).splitlines()[0][:200]}")
        self.lag_seconds = None if lag is None else float(lag)
        if not in_recovery:
            return self._changed(NOT_A_STANDBY, "it is not in recovery (promoted?)")
        if self.lag_seconds is None or self.lag_seconds > self.max_lag:
            return self._changed(LAGGING, f"lag {self.lag_seconds} s, more than {self.max_lag} s")
        return self._changed(OK, f"lag {self.lag_seconds:.3f} s")

    def _changed(self, state: str, why: str) -> str:
        if state != self._last_state:
            self._last_state = state
            level = logging.INFO if state == OK else logging.WARNING
            log.log(level, "read replica %s is %s: %s%s", self.name, state, why,
                    "" if state == OK else "; the primary serves its reads",
                    extra={"replica": self.name, "replica_state": state})
        return state


def init_app(app: Flask) -> None:
    config = app.config
    app.extensions["soonish.replicas"] = [
        Replica(url, config["SQLALCHEMY_ENGINE_OPTIONS"], float(config["REPLICA_MAX_LAG_SECONDS"]),
                float(config["REPLICA_CHECK_SECONDS"]))
        for url in replica_urls(config["DATABASE_REPLICA_URLS"])
    ]


def replicas() -> list[Replica]:
    return current_app.extensions["soonish.replicas"]


def ready_replica() -> Replica | None:
    """A replica that may serve reads now (any of them, spreading the load), or None."""
    ready = [replica for replica in replicas() if replica.state() == OK]
    return random.choice(ready) if ready else None


def replica_states() -> dict[str, dict]:
    """For /readyz: each replica's state, its lag, and whether reads go to it."""
    states = {}
    for replica in replicas():
        state = replica.state()
        lag = None if replica.lag_seconds is None else round(replica.lag_seconds, 3)
        states[replica.name] = {"state": state, "in_use": state == OK, "lag_seconds": lag}
    return states
