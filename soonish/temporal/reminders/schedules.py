"""Reminder schedules: one Temporal Schedule per (event, offset in use).

Each fires a lead time (REMINDER_LEAD_SECONDS) before its reminder is due and starts a
ReminderWorkflow, which enrolls the reminder in the ReminderSlotWorkflow of its due second; the
slot plans every reminder due then a little ahead (REMINDER_PLAN_AHEAD) and sends them at that
second. Used by the reminder activities and by `soonish sync-schedules`. When a reminder is due
is ``delivery.reminders.due_at``.
"""
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from temporalio.client import (
    Client, Schedule, ScheduleActionStartWorkflow, ScheduleAlreadyRunningError, ScheduleCalendarSpec, ScheduleRange,
    ScheduleSpec, ScheduleState, ScheduleUpdate,
)
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from soonish.domain.delivery.reminders import due_at, kind, lead_seconds
from soonish.temporal.events.types import event_workflow_id
from soonish.temporal.reminders.types import ReminderInput, reminder_schedule_id
from soonish.temporal.reminders.workflow import ReminderWorkflow


@dataclass(frozen=True)
class ScheduleScope:
    """Where schedules live (this deployment's id prefix and task queue), and how early they fire."""

    id_prefix: str
    task_queue: str
    lead: timedelta

    @classmethod
    def from_config(cls, config) -> "ScheduleScope":
        return cls(config["TEMPORAL_ID_PREFIX"], config["TEMPORAL_TASK_QUEUE"],
                   timedelta(seconds=int(config["REMINDER_LEAD_SECONDS"])))


def _at(moment: datetime) -> ScheduleCalendarSpec:
    """A calendar matching exactly one second (UTC)."""
    moment = moment.astimezone(timezone.utc)
    return ScheduleCalendarSpec(
        second=[ScheduleRange(moment.second)], minute=[ScheduleRange(moment.minute)],
        hour=[ScheduleRange(moment.hour)], day_of_month=[ScheduleRange(moment.day)],
        month=[ScheduleRange(moment.month)], year=[ScheduleRange(moment.year)],
    )


def _reminder(scope: ScheduleScope, event_id: int, offset: int, starts_at: datetime) -> ReminderInput:
    return ReminderInput(event_id, offset, starts_at, event_workflow_id(scope.id_prefix, event_id))


def _schedule(scope: ScheduleScope, event_id: int, offset: int, starts_at: datetime) -> Schedule:
    schedule_id = reminder_schedule_id(scope.id_prefix, event_id, offset)
    fire_at = due_at(starts_at, offset) - scope.lead
    return Schedule(
        action=ScheduleActionStartWorkflow(
            ReminderWorkflow.run, _reminder(scope, event_id, offset, starts_at),
            id=schedule_id, task_queue=scope.task_queue,
        ),
        spec=ScheduleSpec(calendars=[_at(fire_at)], start_at=fire_at - timedelta(seconds=1),
                          end_at=fire_at + timedelta(seconds=1)),
        state=ScheduleState(limited_actions=True, remaining_actions=1,
                            note=f"{kind(offset).value} {lead_seconds(offset)}s before event {event_id} "
                                 f"at {starts_at.isoformat()}"),
    )


async def put_reminder(client: Client, scope: ScheduleScope, event_id: int, offset: int,
                       starts_at: datetime, now: datetime) -> bool:
    """Make sure holders of ``offset`` are reminded before ``starts_at``. Returns whether a
    schedule for it exists afterwards.

    - due time passed: nothing (late subscribers get no reminders from the past), any
      schedule for it is removed;
    - due within the lead time: no schedule (one made in the past never fires): the
      ReminderWorkflow is started directly (it enrolls the reminder in its due second's slot);
    - otherwise: the schedule is created, or updated to the new time.
    """
    due = due_at(starts_at, offset)
    if due - scope.lead <= now:
        await delete_reminder(client, scope, event_id, offset)
        if due > now:
            await _start_now(client, scope, event_id, offset, starts_at)
        return False
    schedule_id = reminder_schedule_id(scope.id_prefix, event_id, offset)
    schedule = _schedule(scope, event_id, offset, starts_at)
    try:
        await client.create_schedule(schedule_id, schedule)
    except ScheduleAlreadyRunningError:
        await client.get_schedule_handle(schedule_id).update(lambda _: ScheduleUpdate(schedule=schedule))
    return True


async def _start_now(client: Client, scope: ScheduleScope, event_id: int, offset: int, starts_at: datetime) -> None:
    # One id per (event, offset, start time): starting it twice is a no-op.
    workflow_id = f"{reminder_schedule_id(scope.id_prefix, event_id, offset)}-at-{int(starts_at.timestamp())}"
    try:
        await client.start_workflow(
            ReminderWorkflow.run, _reminder(scope, event_id, offset, starts_at),
            id=workflow_id, task_queue=scope.task_queue,
        )
    except WorkflowAlreadyStartedError:
        pass


async def delete_reminder(client: Client, scope: ScheduleScope, event_id: int, offset: int) -> None:
    try:
        await client.get_schedule_handle(reminder_schedule_id(scope.id_prefix, event_id, offset)).delete()
    except RPCError as exc:
        if exc.status != RPCStatusCode.NOT_FOUND:
            raise


async def list_reminder_schedules(client: Client, scope: ScheduleScope) -> dict[int, set[int]]:
    """Every reminder schedule of this deployment: {event_id: {offset, ...}}."""
    prefix = f"{scope.id_prefix}event-"
    found: dict[int, set[int]] = {}
    async for listed in await client.list_schedules():
        rest = listed.id[len(prefix):] if listed.id.startswith(prefix) else ""
        event_part, marker, offset_part = rest.partition("-reminder-")
        # A still-coming check's offset is negative ("-reminder--86400s").
        if marker and event_part.isdigit() and offset_part.endswith("s") and offset_part[:-1].lstrip("-").isdigit():
            found.setdefault(int(event_part), set()).add(int(offset_part[:-1]))
    return found
