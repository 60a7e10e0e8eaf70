"""Assertions made through the real Temporal client."""
import time

from temporalio.client import Client, WorkflowExecutionStatus

from soonish.temporal.schedules import ScheduleScope, list_reminder_schedules
from soonish.temporal.shared import event_workflow_id
from soonish.temporal.workflows import EventWorkflow

from .sinks import wait_until


def event_handle(app, temporal_env, event_id: int):
    return temporal_env.client.get_workflow_handle(
        event_workflow_id(app.config["TEMPORAL_ID_PREFIX"], event_id)
    )


def workflow_status(harness, handle) -> WorkflowExecutionStatus:
    return harness.run(handle.describe()).status


def wait_for_status(harness, handle, status: WorkflowExecutionStatus, timeout: float = 20):
    deadline = time.monotonic() + timeout
    while (current := workflow_status(harness, handle)) != status:
        assert time.monotonic() < deadline, f"workflow stayed {current.name}, wanted {status.name}"
        time.sleep(0.2)


def query_state(harness, handle):
    return harness.run(handle.query(EventWorkflow.state))


def schedules_of(harness, client: Client, app, event_id: int) -> set[int]:
    scope = ScheduleScope.from_config(app.config)
    return harness.run(list_reminder_schedules(client, scope)).get(event_id, set())


def wait_for_schedules(harness, temporal_env, app, event_id: int, expected: set[int]) -> None:
    wait_until(lambda: schedules_of(harness, temporal_env.client, app, event_id) == expected, timeout=20,
               message=f"schedules {expected}")
