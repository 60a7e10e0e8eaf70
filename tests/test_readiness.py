"""/healthz (liveness) asks nothing; /readyz (readiness) asks the database and Temporal, each at
most once per cache interval per process however many probes come, and turns 503 when Temporal
stops. Temporal calls are counted by the real dev server itself (its request metrics)."""
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from soonish.web import create_app
from loopback.processes import TemporalDevServer
from loopback.sinks import wait_until

CACHE_SECONDS = 5  # long enough that a burst of probes falls inside one interval on a busy box
PROBES = 60


@pytest.fixture
def own_temporal():
    server = TemporalDevServer(serve_metrics=True).start()
    yield server
    server.stop()


def test_liveness_asks_neither_the_database_nor_temporal(app, tmp_path):
    cut_off = create_app({**app.config, "DATABASE_URL": f"sqlite:///{tmp_path}/missing/dir/db.sqlite",
                          "TEMPORAL_ADDRESS": "127.0.0.1:9"})
    response = cut_off.test_client().get("/healthz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok"}
    assert "soonish.readiness" not in cut_off.extensions and "soonish.temporal" not in cut_off.extensions


@pytest.mark.slow
def test_readiness_asks_temporal_once_per_interval_and_turns_503_when_it_stops(app, own_temporal):
    watched = create_app({**app.config, "TEMPORAL_ADDRESS": own_temporal.address,
                          "READINESS_CACHE_SECONDS": CACHE_SECONDS})
    client = watched.test_client()
    assert client.get("/readyz").status_code == 200  # connects (the shared client) and checks once
    wait_until(lambda: own_temporal.exposed_requests("GetSystemInfo") > 0, 15, 0.2, "the server to count the first check")
    before = own_temporal.requests_answered("GetSystemInfo")
    time.sleep(CACHE_SECONDS)  # on purpose: past the cache interval, the state is stale and the next probe checks

    started = time.monotonic()
    with ThreadPoolExecutor(8) as pool:  # concurrent, as gunicorn's threads would probe
        statuses = list(pool.map(lambda _: watched.test_client().get("/readyz").status_code, range(PROBES)))
    elapsed = time.monotonic() - started
    calls = own_temporal.requests_answered("GetSystemInfo") - before

    assert statuses == [200] * PROBES
    intervals = 1 + int(elapsed // CACHE_SECONDS)  # 1 unless this box stalled for a whole interval
    assert 1 <= calls <= intervals, f"{calls} Temporal calls for {PROBES} probes in {elapsed:.1f} s"

    own_temporal.stop()
    wait_until(lambda: client.get("/readyz").status_code == 503, CACHE_SECONDS + 15, 0.2, "readiness to turn 503")
    body = client.get("/readyz").get_json()
    assert body["checks"] == {"database": "ok", "temporal": "failing"} and body["failing"] == ["temporal"]
    assert client.get("/healthz").status_code == 200  # alive all along: nothing to restart

    # Temporal back on the same address: the process's one client reconnects by itself.
    shared_client = watched.extensions["soonish.temporal"]._client
    own_temporal.start()
    wait_until(lambda: client.get("/readyz").status_code == 200, CACHE_SECONDS + 60, 0.5, "readiness back to 200")
    assert watched.extensions["soonish.temporal"]._client is shared_client
