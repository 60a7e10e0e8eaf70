"""Builds the workers that run Soonish's workflows and activities.

Two task queues, so each side scales on its own: workflows (and the short activities that plan,
sync schedules, send one-off mails, prune the ledger, leave the digests and post outgoing webhooks) on TEMPORAL_TASK_QUEUE; delivery batches, the bulk of
the work, on TEMPORAL_DELIVERY_TASK_QUEUE. A process takes a role: "workflows", "delivery", or
"all" (both, one process: `make run` and the embedded stack).
"""
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import AsyncExitStack, asynccontextmanager
from datetime import timedelta

from flask import Flask
from temporalio.client import Client
from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig
from temporalio.worker import Worker

from soonish.temporal.events.activities import EventActivities
from soonish.temporal.delivery.activities import DeliveryActivities
from soonish.temporal.digest.activities import DigestActivities
from soonish.temporal.digest.workflow import CommunityDigestWorkflow
from soonish.temporal.outbox.drain import OutboxDrain
from soonish.temporal.reminders.activities import ReminderActivities
from soonish.temporal.retention.activities import RetentionActivities
from soonish.temporal.retention.workflow import RetentionWorkflow
from soonish.temporal.waitlist.activities import RsvpActivities
from soonish.temporal.series.activities import SeriesActivities
from soonish.temporal.series.workflow import SeriesMaterializeWorkflow
from soonish.temporal.delivery.types import delivery_task_queue
from soonish.temporal.waitlist.workflow import WaitlistOfferWorkflow
from soonish.temporal.webhooks.activities import WebhookActivities
from soonish.temporal.webhooks.workflow import WebhookDeliveryWorkflow
from soonish.temporal.delivery.workflow import DeliveryRetriesWorkflow, TransactionalMailWorkflow
from soonish.temporal.events.workflow import EventWorkflow
from soonish.temporal.reminders.workflow import ReminderSlotWorkflow, ReminderWorkflow

ACTIVITY_THREADS = 16
# Every workflow the workflows role runs (tests/test_replay.py replays a recorded history of each).
WORKFLOWS = [EventWorkflow, ReminderWorkflow, ReminderSlotWorkflow, TransactionalMailWorkflow, RetentionWorkflow,
             WebhookDeliveryWorkflow, WaitlistOfferWorkflow, SeriesMaterializeWorkflow, DeliveryRetriesWorkflow,
             CommunityDigestWorkflow]
ROLES = ("all", "workflows", "delivery")
# Heartbeats reach the server at least this often (the SDK's default is 0.8 x the heartbeat
# timeout, which would leave a 2 s timeout 0.4 s of slack); see delivery/types.BATCH_HEARTBEAT_TIMEOUT.
HEARTBEAT_THROTTLE = timedelta(seconds=0.5)


def all_activities(app: Flask, client: Client, deliveries: DeliveryActivities) -> list:
    return (EventActivities(app).all() + deliveries.all() + ReminderActivities(app, client).all()
            + RetentionActivities(app).all() + WebhookActivities(app, client, deliveries).all()
            + RsvpActivities(app, client, deliveries).all()
            + SeriesActivities(app).all() + DigestActivities(app).all())


def delivery_activities(deliveries: DeliveryActivities) -> list:
    """What the delivery task queue runs: the batches workflows schedule there."""
    return [deliveries.deliver_batch, deliveries.deliver_batches]


@asynccontextmanager
async def running_worker(app: Flask, client: Client, role: str = "all") -> AsyncIterator[list[Worker]]:
    """The workers of ``role`` running for the length of the block, with the follow outbox drain
    beside the workflow workers; then they stop (letting running activities and the drain's round
    finish) and the delivery HTTP pool closes."""
    deliveries = DeliveryActivities(app)
    try:
        async with AsyncExitStack() as stack:
            workers = [await stack.enter_async_context(worker) for worker in build_workers(app, client, deliveries, role)]
            if role != "delivery":
                await stack.enter_async_context(OutboxDrain(app, client, deliveries).running())
            yield workers
    finally:
        await deliveries.close()


def build_workers(app: Flask, client: Client, deliveries: DeliveryActivities, role: str) -> list[Worker]:
    workflows_queue = app.config["TEMPORAL_TASK_QUEUE"]
    delivery_queue = delivery_task_queue(app.config)
    workers = []
    if role in ("all", "workflows"):
        workers.append(Worker(
            client,
            task_queue=workflows_queue,
            workflows=WORKFLOWS,
            # Every activity, delivery batches included: workflows that scheduled their batches
            # here before the queues were split (and a deployment that names one queue for both)
            # still have them run. Retention rounds and outgoing webhooks run here too, on the
            # queue of the workflows that schedule them.
            activities=all_activities(app, client, deliveries),
            # Database activities are synchronous; they run on this pool.
            activity_executor=ThreadPoolExecutor(ACTIVITY_THREADS),
            max_concurrent_activities=ACTIVITY_THREADS,
            max_heartbeat_throttle_interval=HEARTBEAT_THROTTLE,
            # With several workers, eager dispatch would keep a workflow's activities all on
            # the worker that runs it; off, they spread over every worker polling the queue.
            disable_eager_activity_execution=True,
        ))
    if role in ("all", "delivery") and not (role == "all" and delivery_queue == workflows_queue):
        workers.append(Worker(
            client,
            task_queue=delivery_queue,
            activities=delivery_activities(deliveries),
            max_concurrent_activities=ACTIVITY_THREADS,
            max_heartbeat_throttle_interval=HEARTBEAT_THROTTLE,
        ))
    return workers


def worker_runtime(metrics_bind: str) -> Runtime | None:
    """A Temporal runtime serving the SDK's metrics to Prometheus at ``host:port``; None when
    ``metrics_bind`` is empty (the SDK's default runtime, no metrics endpoint)."""
    if not metrics_bind:
        return None
    return Runtime(telemetry=TelemetryConfig(metrics=PrometheusConfig(bind_address=metrics_bind)))
