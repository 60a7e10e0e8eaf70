"""Builds the worker that runs Soonish's workflows and activities."""
from concurrent.futures import ThreadPoolExecutor

from flask import Flask
from temporalio.client import Client
from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig
from temporalio.worker import Worker

from .activities import EventActivities
from .fanout import DeliveryActivities
from .reminders import ReminderActivities
from .workflows import EventWorkflow, ReminderSlotWorkflow, ReminderWorkflow, TransactionalMailWorkflow

ACTIVITY_THREADS = 16


def all_activities(app: Flask, client: Client) -> list:
    return EventActivities(app).all() + DeliveryActivities(app).all() + ReminderActivities(app, client).all()


def build_worker(app: Flask, client: Client, task_queue: str | None = None) -> Worker:
    return Worker(
        client,
        task_queue=task_queue or app.config["TEMPORAL_TASK_QUEUE"],
        workflows=[EventWorkflow, ReminderWorkflow, ReminderSlotWorkflow, TransactionalMailWorkflow],
        activities=all_activities(app, client),
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
