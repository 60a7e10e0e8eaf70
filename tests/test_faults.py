"""Faults around the worker: the Temporal server restarted in the middle of a fan-out that a
worker process is running comes back from its database file, and the fan-out finishes with no
recipient lost and none served twice; a worker stopping never leaves a query half read."""
import inspect

import pytest
from temporalio import activity

from soonish.temporal.delivery.activities import DeliveryActivities
from soonish.temporal.worker import all_activities

from .api_helpers import announce, create_event
from loopback.processes import TemporalDevServer, start_worker
from loopback.seeding import seed_subscribers, wait_for_sent
from loopback.sinks import wait_until

SUBSCRIBERS = 240
# 12 batches, more than run at once: some start only after the restart.
BATCH_SIZE = 20
CONCURRENCY = 5
SINK_DELAY = 0.3  # a batch takes 4 groups x 0.3 s: the first ones are mid-way at the restart


@pytest.fixture
def temporal_server(tmp_path):
    server = TemporalDevServer(tmp_path / "temporal.db").start()
    yield server
    server.stop()


@pytest.fixture
def app_config(app_config, temporal_server):
    """This test's app and worker use a Temporal server of their own, the one it restarts."""
    app_config.update(TEMPORAL_ADDRESS=temporal_server.address, TEMPORAL_NAMESPACE="default")
    return app_config


@pytest.mark.slow
def test_a_temporal_restart_mid_fanout_loses_nothing_and_repeats_nothing(
    app, app_config, client, make_user, bearer, http_sink, temporal_server
):
    organizer = bearer(make_user("host@example.com"))
    event = create_event(client, organizer)
    seed_subscribers(app, event["id"], SUBSCRIBERS, webhook_url=lambda i: http_sink.url(f"/r{i}"))
    http_sink.delay = SINK_DELAY
    worker = start_worker(app_config, DELIVERY_BATCH_SIZE=BATCH_SIZE, DELIVERY_CONCURRENCY=CONCURRENCY)
    try:
        announce(client, organizer, event["id"], "Restart test")
        wait_until(lambda: len(http_sink.delivered()) >= 2 * CONCURRENCY, timeout=60, message="the fan-out to start")
        temporal_server.stop()
        at_stop = len(http_sink.delivered())
        temporal_server.start()

        wait_for_sent(app, SUBSCRIBERS, timeout=60)
    finally:
        worker.stop()

    assert at_stop < SUBSCRIBERS, "the fan-out was over before the restart"
    received = sorted(request.path for request in http_sink.delivered())
    assert set(received) == {f"/r{i}" for i in range(SUBSCRIBERS)}, "a recipient was lost"
    assert len(received) == SUBSCRIBERS, "a recipient was served twice"


def test_a_worker_stopping_never_interrupts_a_synchronous_activity_mid_query(app, temporal_env):
    # Temporal cancels a threaded activity by raising in its thread, wherever it is. Between a
    # query and its answer that left a connection idle in transaction, holding its locks: the
    # next test's DROP TABLE waited forever (measured: 3 shutdowns in 20 mid-activity).
    activities = all_activities(app, temporal_env.client, DeliveryActivities(app))
    synchronous = [fn for fn in activities if not inspect.iscoroutinefunction(fn)]
    assert len(synchronous) >= 4  # complete_event, plan_fanout, send_transactional_mail, plan_reminders
    interruptible = [fn.__name__ for fn in synchronous
                     if not activity._Definition.must_from_callable(fn).no_thread_cancel_exception]
    assert interruptible == []
