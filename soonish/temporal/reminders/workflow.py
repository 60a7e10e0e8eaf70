"""Reminder workflows: a schedule's firing (ReminderWorkflow) enrolls its reminder in the slot of
its due second (ReminderSlotWorkflow), which plans ahead and sends at that second. They only
orchestrate; activities are called by name (see delivery/types.ActivityName)."""
import asyncio
from datetime import timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from soonish.temporal.delivery.types import ACTIVITY_TIMEOUT, ActivityName, DeliveryBatch
    from soonish.temporal.reminders.types import (
        REMINDER_PLAN_AHEAD,
        REMINDER_RECOUNT_EVERY,
        ReminderInput,
        ReminderSlot,
        SlotStart,
    )

from soonish.temporal.delivery.workflow import run_batches


async def sleep_until(moment) -> None:
    wait = moment - workflow.now()
    if wait > timedelta(0):
        await workflow.sleep(wait)


@workflow.defn
class ReminderWorkflow:
    """Started by an (event, offset) schedule a lead time early: enrolls the reminder in the
    slot workflow of its due second, which delivers it on time along with every other reminder
    due then. Firing twice is harmless: a slot takes each reminder once."""

    @workflow.run
    async def run(self, reminder: ReminderInput) -> None:
        await workflow.execute_activity(
            ActivityName.ENROLL_REMINDER, reminder, start_to_close_timeout=ACTIVITY_TIMEOUT
        )


@workflow.defn
class ReminderSlotWorkflow:
    """All reminders due in one second: sleeps to it, plans them in one activity, and delivers
    them in batches packed across events. Per event, nothing waits at the due second: 300
    events due at once cost one timer, not 300 workflows' worth of tasks. Sends that need
    longer than their budgets allow start early enough that the last lands on time."""

    @workflow.init
    def __init__(self, slot: ReminderSlot) -> None:
        self._waiting: dict[str, ReminderInput] = {}
        self._taken: set[str] = set()

    @workflow.signal
    def enroll(self, reminder: ReminderInput) -> None:
        if reminder.key not in self._taken:
            self._waiting[reminder.key] = reminder

    @workflow.run
    async def run(self, slot: ReminderSlot) -> int:
        sends_from = slot.due
        if workflow.patched("reminders-sent-early"):
            sends_from = await self._count_sends(slot)
        else:
            await sleep_until(slot.due - REMINDER_PLAN_AHEAD)
        taken = 0
        # Reminders enrolled while a round is out go in the next round.
        while self._waiting:
            reminders = self._take_waiting()
            groups = await workflow.execute_activity(
                ActivityName.PLAN_REMINDERS, reminders, result_type=list[list[DeliveryBatch]],
                start_to_close_timeout=ACTIVITY_TIMEOUT,
            )
            await sleep_until(sends_from)
            await run_batches(ActivityName.DELIVER_BATCHES, groups, slot.delivery_task_queue)
            taken += len(reminders)
        return taken

    async def _count_sends(self, slot: ReminderSlot):
        """As reminders enroll (their schedules fire a lead before the due time), count their
        sends to know when those start: at the due time, unless the budgets need longer. Returns
        that moment, REMINDER_PLAN_AHEAD after which the slot plans (now, when it is late)."""
        sends_from = slot.due
        counted = 0
        while True:
            if len(self._waiting) > counted:
                counted = len(self._waiting)
                start = await workflow.execute_activity(
                    ActivityName.REMINDER_SENDS_FROM, list(self._waiting.values()), result_type=SlotStart,
                    start_to_close_timeout=ACTIVITY_TIMEOUT,
                )
                sends_from = start.sends_from
            plan_at = sends_from - REMINDER_PLAN_AHEAD
            if workflow.now() >= plan_at:
                return sends_from
            # Asleep until more reminders enroll or planning is due, not on a clock: a slot
            # started long before its due time costs nothing while nobody enrolls.
            try:
                await workflow.wait_condition(lambda: len(self._waiting) > counted, timeout=plan_at - workflow.now())
            except asyncio.TimeoutError:
                continue
            # Schedules fire in bursts: let the burst gather, then count it once.
            await sleep_until(min(plan_at, workflow.now() + REMINDER_RECOUNT_EVERY))

    def _take_waiting(self) -> list[ReminderInput]:
        reminders = list(self._waiting.values())
        self._taken.update(self._waiting)
        self._waiting.clear()
        return reminders
