"""Split task queues: a `--role workflows` process runs the workflows, a `--role delivery`
process the delivery batches, each polling its own queue; a broadcast goes out through both."""
import json

from .api_helpers import announce, create_event
from loopback.processes import start_soonish
from loopback.seeding import seed_subscribers, wait_for_sent

SUBSCRIBERS = 30


def recorded_sends(log: str) -> int:
    return sum(len(json.loads(line)["delivery_ids"]) for line in log.splitlines() if '"sends recorded"' in line)


def test_a_broadcast_runs_its_workflow_and_its_batches_on_separate_worker_roles(
        app, app_config, client, make_user, bearer, http_sink, tmp_path):
    organizer = bearer(make_user("host@example.com"))
    event = create_event(client, organizer)
    seed_subscribers(app, event["id"], SUBSCRIBERS, webhook_url=lambda i: http_sink.url(f"/r{i}"))
    workflows = start_soonish(["worker", "--role", "workflows"], app_config, "workflows", tmp_path, LOG_LEVEL="INFO")
    delivery = start_soonish(["worker", "--role", "delivery"], app_config, "delivery", tmp_path,
                             LOG_LEVEL="INFO", DELIVERY_BATCH_SIZE=10)
    try:
        queue = app_config["TEMPORAL_TASK_QUEUE"]
        workflows.wait_for_output(f"worker polling task queue '{queue}' (role workflows)")
        delivery.wait_for_output(f"worker polling task queue '{queue}-delivery' (role delivery)")
        announce(client, organizer, event["id"], "Split")
        wait_for_sent(app, SUBSCRIBERS, timeout=120)
    finally:
        workflows.stop()
        delivery.stop()
    assert sorted(r.path for r in http_sink.delivered()) == sorted(f"/r{i}" for i in range(SUBSCRIBERS))
    assert recorded_sends(delivery.output()) == SUBSCRIBERS  # every batch ran on the delivery worker
    assert recorded_sends(workflows.output()) == 0
