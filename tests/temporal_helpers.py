"""Assertions made through the real Temporal client, and waits for the work it runs to be done
(a test that checks nothing more arrived waits for the work that could send it to finish)."""
from sqlalchemy import select
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.service import RPCError

from soonish.models import Notification, OutboxItem, db

from soonish.temporal.reminders.schedules import ScheduleScope, list_reminder_schedules
from soonish.temporal.events.types import event_workflow_id
from soonish.temporal.events.workflow import EventWorkflow

from loopback.sinks import wait_until


def event_handle(app, temporal_env, event_id: int):
    return temporal_env.client.get_workflow_handle(
        event_workflow_id(app.config["TEMPORAL_ID_PREFIX"], event_id)
    )


def workflow_status(harness, handle) -> WorkflowExecutionStatus:
    return harness.run(handle.describe()).status


def wait_for_start(harness, handle, timeout: float = 20) -> None:
    """Wait for a workflow the outbox drain starts a moment after a commit (issue 23.2)."""
    def started() -> bool:
        try:
            harness.run(handle.describe())
        except RPCError:
            return False
        return True
    wait_until(started, timeout, 0.1, "the workflow to start")


def wait_for_status(harness, handle, status: WorkflowExecutionStatus, timeout: float = 20):
    wait_for_start(harness, handle, timeout)  # the outbox drain starts it a moment after the commit
    wait_until(lambda: workflow_status(harness, handle) == status, timeout, 0.2, f"the workflow to be {status.name}")


def wait_for_workflows_closed(harness, client: Client, app, workflow_type: str, at_least: int = 1,
                              timeout: float = 30) -> None:
    """Until at least ``at_least`` workflows of this type ran on the test's task queue and none of
    them still runs: whatever they would send has been sent."""
    query = f"WorkflowType = '{workflow_type}' AND TaskQueue = '{app.config['TEMPORAL_TASK_QUEUE']}'"

    async def statuses() -> list:
        return [execution.status async for execution in client.list_workflows(query)]

    def all_closed() -> bool:
        seen = harness.run(statuses())
        return len(seen) >= at_least and WorkflowExecutionStatus.RUNNING not in seen

    wait_until(all_closed, timeout, 0.2, f"{at_least} {workflow_type} to finish")


def wait_for_settled(app, notification_id: int, timeout: float = 30) -> None:
    """Until the event's workflow has run every batch of the notification (retries included):
    every send it will make has been made."""
    def settled() -> bool:
        with app.app_context():
            return db.session.get(Notification, notification_id).settled_at is not None

    wait_until(settled, timeout, message=f"notification {notification_id} settled")


def wait_for_outbox_drained(app, timeout: float = 30) -> None:
    """Until every outbox row is done (its mail sent, its workflow started or signalled)."""
    def drained() -> bool:
        with app.app_context():
            return db.session.scalar(select(OutboxItem.id).where(OutboxItem.done_at.is_(None)).limit(1)) is None

    wait_until(drained, timeout, message="outbox drained")


def wait_for_event_quiet(harness, temporal_env, app, event_id: int, timeout: float = 30) -> None:
    """Until the event's outbox is drained and its workflow has acted on it: nothing queued to
    send and its reminder schedules in line with the subscriptions."""
    def drained() -> bool:
        with app.app_context():
            return db.session.scalar(
                select(OutboxItem.id).where(OutboxItem.event_id == event_id, OutboxItem.done_at.is_(None)).limit(1)
            ) is None

    wait_until(drained, timeout, message=f"event {event_id}'s outbox drained")
    handle = event_handle(app, temporal_env, event_id)

    def quiet() -> bool:
        state = query_state(harness, handle)
        return state.reminders_in_sync and not state.pending_notification_ids

    wait_until(quiet, timeout, 0.2, f"event {event_id}'s workflow to settle")


def query_state(harness, handle):
    return harness.run(handle.query(EventWorkflow.current_state))


def schedules_of(harness, client: Client, app, event_id: int) -> set[int]:
    scope = ScheduleScope.from_config(app.config)
    return harness.run(list_reminder_schedules(client, scope)).get(event_id, set())


def wait_for_schedules(harness, temporal_env, app, event_id: int, expected: set[int]) -> None:
    wait_until(lambda: schedules_of(harness, temporal_env.client, app, event_id) == expected, timeout=20,
               message=f"schedules {expected}")
