"""A worker process killed with SIGKILL in the middle of a fan-out, then restarted: no
recipient is lost, and a repeat (only sends in flight at the kill) carries its first key."""
import os
import signal
import subprocess
import sys
from collections import defaultdict

from soonish.models import Delivery, DeliveryStatus, db

from .api_helpers import announce, create_event
from .seeding import seed_subscribers
from .sinks import wait_until

SUBSCRIBERS = 300
BATCH_SIZE = 50
CONCURRENCY = 10


def start_worker(app_config) -> subprocess.Popen:
    env = {**os.environ}
    for name in ("DATABASE_URL", "SECRET_KEY", "TEMPORAL_ADDRESS", "TEMPORAL_NAMESPACE", "TEMPORAL_TASK_QUEUE",
                 "TEMPORAL_ID_PREFIX", "PUBLIC_URL"):
        env[f"SOONISH_{name}"] = str(app_config[name])
    env.update(SOONISH_ALLOW_PRIVATE_TARGETS="true", SOONISH_DELIVERY_BATCH_SIZE=str(BATCH_SIZE),
               SOONISH_DELIVERY_CONCURRENCY=str(CONCURRENCY))
    return subprocess.Popen([sys.executable, "-m", "soonish", "worker"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def test_killed_worker_loses_no_recipient_and_repeats_keep_their_key(app, app_config, client, make_user, bearer, http_sink):
    organizer = bearer(make_user("host@example.com"))
    event = create_event(client, organizer)
    seed_subscribers(app, event["id"], SUBSCRIBERS, webhook_url=lambda i: http_sink.url(f"/r{i}"))
    http_sink.delay = 0.2  # slow receiver: the fan-out takes long enough to be interrupted

    worker = start_worker(app_config)
    try:
        announce(client, organizer, event["id"], "Crash test")
        wait_until(lambda: len(http_sink.delivered()) >= 40, timeout=60, message="the fan-out to start")
        worker.send_signal(signal.SIGKILL)
        worker.wait(10)
        at_kill = len(http_sink.received)
        worker = start_worker(app_config)

        with app.app_context():
            def all_sent() -> bool:
                db.session.expire_all()
                return db.session.query(Delivery).filter_by(status=DeliveryStatus.SENT).count() == SUBSCRIBERS
            wait_until(all_sent, timeout=120, message="every delivery recorded as sent")
    finally:
        worker.kill()
        worker.wait(10)

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
