"""A worker process killed with SIGKILL in the middle of a fan-out, then restarted: no
recipient is lost, and a repeat (only sends in flight at the kill) carries its first key. A
worker taken over while alive (its heartbeats stopped reaching Temporal) repeats nothing."""
import logging
from collections import Counter, defaultdict
from datetime import timedelta

import pytest

from .api_helpers import announce, create_event
from loopback.processes import start_worker
from loopback.seeding import seed_subscribers, wait_for_sent
from loopback.sinks import wait_until
from soonish.temporal.delivery import liveness

SUBSCRIBERS = 300
BATCH_SIZE = 50
CONCURRENCY = 10


@pytest.mark.slow
def test_killed_worker_loses_no_recipient_and_repeats_keep_their_key(app, app_config, client, make_user, bearer, http_sink):
    organizer = bearer(make_user("host@example.com"))
    event = create_event(client, organizer)
    seed_subscribers(app, event["id"], SUBSCRIBERS, webhook_url=lambda i: http_sink.url(f"/r{i}"))
    http_sink.delay = 0.2  # slow receiver: the fan-out takes long enough to be interrupted

    worker = start_worker(app_config, DELIVERY_BATCH_SIZE=BATCH_SIZE, DELIVERY_CONCURRENCY=CONCURRENCY)
    try:
        announce(client, organizer, event["id"], "Crash test")
        wait_until(lambda: len(http_sink.delivered()) >= 40, timeout=60, message="the fan-out to start")
        worker.kill()
        at_kill = len(http_sink.received)
        worker = start_worker(app_config, DELIVERY_BATCH_SIZE=BATCH_SIZE, DELIVERY_CONCURRENCY=CONCURRENCY)

        wait_for_sent(app, SUBSCRIBERS, timeout=120)
    finally:
        worker.kill()

    keys_by_recipient = defaultdict(set)
    copies_by_recipient = defaultdict(int)
    for request in http_sink.delivered():
        keys_by_recipient[request.path].add(request.headers["Idempotency-Key"])
        copies_by_recipient[request.path] += 1
    assert set(keys_by_recipient) == {f"/r{i}" for i in range(SUBSCRIBERS)}, "a recipient was lost"
    assert all(len(keys) == 1 for keys in keys_by_recipient.values()), "a repeat carried a new key"
    repeats = sum(copies - 1 for copies in copies_by_recipient.values())
    # Only sends in flight at the kill can repeat: one unrecorded group per running batch.
    in_flight_bound = (SUBSCRIBERS // BATCH_SIZE) * CONCURRENCY
    assert repeats <= in_flight_bound, (repeats, in_flight_bound)
    assert at_kill < SUBSCRIBERS + repeats


def test_a_live_worker_taken_over_mid_group_sends_nothing_twice(
        app, client, make_user, bearer, http_sink, worker, monkeypatch, caplog):
    """Heartbeats that stop reaching Temporal (a busy box, a lagging server) while a group is in
    flight: Temporal starts a newer attempt of the batch 2 s later, which leaves the group to the
    attempt sending it (held in the ledger) and tries it again once that one has recorded it."""
    monkeypatch.setattr(liveness, "BATCH_HEARTBEAT_EVERY", timedelta(seconds=30))  # one beat, then silence
    http_sink.delay = 6  # the group is still in flight when the newer attempt starts
    organizer = bearer(make_user("host@example.com"))
    event = create_event(client, organizer)
    seed_subscribers(app, event["id"], 8, webhook_url=lambda i: http_sink.url(f"/r{i}"))
    caplog.set_level(logging.INFO, logger="soonish.temporal.delivery.activities")

    announce(client, organizer, event["id"], "Doors open at 7")
    wait_for_sent(app, 8, timeout=60)
    wait_until(lambda: any("8 retrying" in r.getMessage() for r in caplog.records), timeout=30,
               message="the newer attempt found the group held")
    assert Counter(r.path for r in http_sink.delivered()) == {f"/r{i}": 1 for i in range(8)}
