"""Pooled PostgreSQL connections are checked only after sitting idle (models/base.py,
ping_when_idle): one the server dropped meanwhile is replaced before a request uses it, and one
used a moment ago costs no round trip."""
import time

import pytest
from sqlalchemy import create_engine, text

from soonish.models import base
from soonish.models.base import ping_when_idle

IDLE = 0.2  # the window, shortened from a second so the test waits less


@pytest.fixture
def engine(postgres_url, monkeypatch):
    if postgres_url is None:
        pytest.skip("PostgreSQL only (a database file can't drop a connection): runs in the suite's PostgreSQL pass")
    monkeypatch.setattr(base, "PING_AFTER_IDLE_SECONDS", IDLE)
    engine = create_engine(postgres_url, pool_size=1, max_overflow=0)
    ping_when_idle(engine)
    pings = []
    ping = engine.dialect.do_ping
    monkeypatch.setattr(engine.dialect, "do_ping", lambda connection: pings.append(1) or ping(connection))
    engine.pings = pings
    yield engine
    engine.dispose()


def backend_pid(engine) -> int:
    with engine.connect() as connection:
        return connection.execute(text("SELECT pg_backend_pid()")).scalar_one()


def test_a_connection_checked_in_a_moment_ago_is_used_without_a_ping(engine):
    first = backend_pid(engine)  # a new connection: nothing to ask
    assert backend_pid(engine) == first
    assert engine.pings == []
    time.sleep(IDLE * 1.5)
    assert backend_pid(engine) == first
    assert len(engine.pings) == 1, "a connection idle past the window is asked once before use"


def test_a_connection_the_server_dropped_while_idle_is_replaced_before_use(engine, postgres_url):
    dropped = backend_pid(engine)
    admin = create_engine(postgres_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        assert connection.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": dropped}).scalar_one()
    admin.dispose()
    time.sleep(IDLE * 1.5)
    replacement = backend_pid(engine)  # no error: the ping found it dead and the pool reconnected
    assert replacement != dropped
    assert len(engine.pings) == 1
