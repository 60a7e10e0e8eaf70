"""ReminderWorkflow and ReminderSlotWorkflow with their activities mocked: a reminder is enrolled
in its slot, and the slot plans ahead, delivers at the due second, and takes each reminder once."""
from datetime import timedelta

from temporalio import activity

from soonish.domain.delivery.reminders import due_at
from soonish.temporal.delivery.types import ActivityName, BatchResult, DeliveryBatch, SubscriptionRange
from soonish.temporal.reminders.types import ReminderInput, SlotStart, ReminderSlot, reminder_slot_id
from soonish.temporal.reminders.workflow import ReminderSlotWorkflow, ReminderWorkflow

from .conftest import server_now


async def test_a_reminder_workflow_enrolls_its_reminder_at_once(workflow_env, run_workers):
    enrolled = []

    @activity.defn(name=ActivityName.ENROLL_REMINDER)
    async def enroll_reminder(reminder: ReminderInput) -> None:
        enrolled.append((reminder, activity.info().current_attempt_scheduled_time))

    now = await server_now(workflow_env)
    reminder = ReminderInput(7, 3600, now + timedelta(days=2), "event-7")
    async with run_workers([enroll_reminder]) as queues:
        handle = await workflow_env.client.start_workflow(
            ReminderWorkflow.run, reminder, id=f"reminder-{queues.workflows}", task_queue=queues.workflows)
        started = (await handle.describe()).start_time
        assert await handle.result() is None

    # Its schedule started it a lead time early: the slot, not this workflow, waits for the due time.
    [(received, at)] = enrolled
    assert received == reminder
    assert at - started < timedelta(seconds=30)


async def test_a_slot_plans_ahead_delivers_at_its_second_and_takes_each_reminder_once(workflow_env, run_workers):
    now = await server_now(workflow_env)
    starts_at = now + timedelta(days=1, hours=1)
    first, second, late = (ReminderInput(event_id, 3600, starts_at, f"event-{event_id}") for event_id in (1, 2, 3))
    due = due_at(first.starts_at, first.offset_seconds)
    slot = None
    counted, planned, delivered = [], [], []

    @activity.defn(name=ActivityName.REMINDER_SENDS_FROM)
    async def reminder_sends_from(reminders: list[ReminderInput]) -> SlotStart:
        counted.append(sorted(r.event_id for r in reminders))
        return SlotStart(due)  # the budgets allow every send at the due second

    @activity.defn(name=ActivityName.PLAN_REMINDERS)
    async def plan_reminders(reminders: list[ReminderInput]) -> list[list[DeliveryBatch]]:
        planned.append(([r.event_id for r in reminders], activity.info().current_attempt_scheduled_time))
        if len(planned) == 1:
            # Enrolled while this round is out: the late one goes in the next round, the first not again.
            await slot.signal(ReminderSlotWorkflow.enroll, late)
            await slot.signal(ReminderSlotWorkflow.enroll, first)
        return [[DeliveryBatch(r.event_id, SubscriptionRange(1, 50)) for r in reminders]]

    @activity.defn(name=ActivityName.DELIVER_BATCHES)
    async def deliver_batches(group: list[DeliveryBatch]) -> BatchResult:
        info = activity.info()
        delivered.append(([b.notification_id for b in group], info.current_attempt_scheduled_time, info.task_queue))
        return BatchResult(sent=50 * len(group))

    async with run_workers([reminder_sends_from, plan_reminders], [deliver_batches]) as queues:
        # As the enroll activity starts it: signal-with-start, so the first reminder is never missed.
        slot = await workflow_env.client.start_workflow(
            ReminderSlotWorkflow.run, ReminderSlot(due, queues.delivery),
            id=reminder_slot_id(f"{queues.workflows}-", due), task_queue=queues.workflows,
            start_signal="enroll", start_signal_args=[first])
        await slot.signal(ReminderSlotWorkflow.enroll, second)
        await slot.signal(ReminderSlotWorkflow.enroll, first)  # its schedule fired twice
        assert await slot.result() == 3

    assert counted and counted[-1] == [1, 2]  # the sends were counted as the reminders enrolled
    assert [events for events, _ in planned] == [[1, 2], [3]]
    # Planned ahead of the due second, sent at it (not before), on the delivery queue.
    assert due - timedelta(seconds=15) <= planned[0][1] < due
    assert [events for events, _, _ in delivered] == [[1, 2], [3]]
    assert all(due <= at < due + timedelta(seconds=30) for _, at, _ in delivered)
    assert {queue for _, _, queue in delivered} == {queues.delivery}
