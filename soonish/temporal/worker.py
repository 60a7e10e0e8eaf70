"""Builds the worker that runs Soonish's workflows and activities."""
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager

from flask import Flask
from temporalio.client import Client
from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig
from temporalio.worker import Worker

from .activities import EventActivities
from .fanout import DeliveryActivities
from .outbox import OutboxDrain
from .reminders import ReminderActivities
from .retention import RetentionActivities
from .retention_workflow import RetentionWorkflow
from .webhook_activities import WebhookActivities
from .webhook_workflow import WebhookDeliveryWorkflow
from .workflows import EventWorkflow, ReminderSlotWorkflow, ReminderWorkflow, TransactionalMailWorkflow

ACTIVITY_THREADS = 16
# Every workflow this worker runs (tests/test_replay.py replays a recorded history of each).
WORKFLOWS = [EventWorkflow, ReminderWorkflow, ReminderSlotWorkflow, TransactionalMailWorkflow, RetentionWorkflow,
             WebhookDeliveryWorkflow]


def all_activities(app: Flask, client: Client, deliveries: DeliveryActivities) -> list:
    return (EventActivities(app).all() + deliveries.all() + ReminderActivities(app, client).all()
            + RetentionActivities(app).all() + WebhookActivities(app, client).all())


@asynccontextmanager
async def running_worker(app: Flask, client: Client) -> AsyncIterator[Worker]:
    """A worker running Soonish's workflows and activities, and the follow outbox drain, for the
    length of the block; then it stops (letting running activities and the drain's round
    finish) and its delivery HTTP pool closes."""
    deliveries = DeliveryActivities(app)
    try:
        async with build_worker(app, client, deliveries) as worker, OutboxDrain(app, client, deliveries).running():
            yield worker
    finally:
        await deliveries.close()


def build_worker(app: Flask, client: Client, deliveries: DeliveryActivities) -> Worker:
    return Worker(
        client,
        task_queue=app.config["TEMPORAL_TASK_QUEUE"],
        workflows=WORKFLOWS,
        activities=all_activities(app, client, deliveries),
        # Database activities are synchronous; they run on this pool.
        activity_executor=ThreadPoolExecutor(ACTIVITY_THREADS),
        max_concurrent_activities=ACTIVITY_THREADS,
        # With several workers, eager dispatch would keep a workflow's batches all on the
        # worker that runs it; off, they spread over every worker polling the queue.
        disable_eager_activity_execution=True,
    )


def worker_runtime(metrics_bind: str) -> Runtime | None:
    """A Temporal runtime serving the SDK's metrics to Prometheus at ``host:port``; None when
    ``metrics_bind`` is empty (the SDK's default runtime, no metrics endpoint)."""
    if not metrics_bind:
        return None
    return Runtime(telemetry=TelemetryConfig(metrics=PrometheusConfig(bind_address=metrics_bind)))
