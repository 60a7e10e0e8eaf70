"""Reminder activities: keep an event's schedules in line with its subscriptions; enroll a
fired reminder in the slot of its due second; at that second, turn each into one notification
(exactly one, however often its schedule fires) and plan its delivery."""
import asyncio

from flask import Flask
from temporalio import activity
from temporalio.client import Client

from soonish.domain.delivery import planning
from soonish.domain.delivery import reminders as reminder_rule
from soonish.domain.delivery.pacing import BudgetSettings, least_seconds
from soonish.models import utcnow
from soonish.temporal.reminders.schedules import ScheduleScope, delete_reminder, put_reminder
from soonish.temporal.activities import AppBound, database_activity
from soonish.temporal.delivery.types import ActivityName, DeliveryBatch, SubscriptionRange, delivery_task_queue
from soonish.temporal.events.types import ReminderSync, ReminderSyncResult
from soonish.temporal.reminders.types import ReminderInput, ReminderSlot, SlotStart, reminder_slot_id
from soonish.temporal.reminders.workflow import ReminderSlotWorkflow


class ReminderActivities(AppBound):
    def __init__(self, app: Flask, client: Client) -> None:
        super().__init__(app)
        self.client = client
        self.scope = ScheduleScope.from_config(app.config)
        self.budgets = BudgetSettings.from_config(app.config)

    def all(self) -> list:
        return [self.sync_reminders, self.enroll_reminder, self.plan_reminders, self.reminder_sends_from]

    @activity.defn(name=ActivityName.SYNC_REMINDERS)
    async def sync_reminders(self, request: ReminderSync) -> ReminderSyncResult:
        plan = await asyncio.to_thread(self._schedule_plan, request.event_id)
        known = set(request.known_offsets)
        scheduled: set[int] = set()
        for offset in known - plan.offsets:
            await delete_reminder(self.client, self.scope, request.event_id, offset)
        now = utcnow()
        for offset in sorted(plan.offsets):
            if offset in known and plan.version == request.known_version:
                scheduled.add(offset)  # made for this very version: nothing to change
            elif await put_reminder(self.client, self.scope, request.event_id, offset, plan.starts_at, now):
                scheduled.add(offset)
        activity.logger.info(
            "reminder schedules synced", extra={"event_id": request.event_id, "offsets": sorted(scheduled)}
        )
        return ReminderSyncResult(sorted(scheduled), plan.version)

    def _schedule_plan(self, event_id: int) -> reminder_rule.SchedulePlan:
        with self.app.app_context():
            return reminder_rule.schedule_plan(event_id)

    @activity.defn(name=ActivityName.ENROLL_REMINDER)
    async def enroll_reminder(self, reminder: ReminderInput) -> None:
        """Put the reminder in the slot workflow of its due second, starting it if needed."""
        due = reminder_rule.due_at(reminder.starts_at, reminder.offset_seconds)
        await self.client.start_workflow(
            ReminderSlotWorkflow.run,
            ReminderSlot(due, delivery_task_queue(self.app.config)),
            id=reminder_slot_id(self.scope.id_prefix, due),
            task_queue=self.scope.task_queue,
            start_signal="enroll",
            start_signal_args=[reminder],
        )

    @database_activity(ActivityName.PLAN_REMINDERS)
    def plan_reminders(self, reminders: list[ReminderInput]) -> list[list[DeliveryBatch]]:
        """One notification per reminder that still stands (made once, however often it is
        asked for), and the recipients packed into delivery batches of about
        DELIVERY_BATCH_SIZE subscriptions across events. A few queries for the whole slot."""
        with self.app.app_context():
            notifications = reminder_rule.make_notifications(self._asked(reminders))
            return self._batches(reminder_rule.recipients_by_notification(notifications) if notifications else {})

    @database_activity(ActivityName.REMINDER_SENDS_FROM)
    def reminder_sends_from(self, reminders: list[ReminderInput]) -> SlotStart:
        """When the sends of a slot's reminders start: early enough for the budgets of the mail
        server and of each webhook host they go to (delivery.reminders.sends_from)."""
        with self.app.app_context():
            sends = planning.sends_per_budget(reminder_rule.recipients_of(self._asked(reminders)))
        return SlotStart(reminder_rule.sends_from(
            reminder_rule.due_at(reminders[0].starts_at, reminders[0].offset_seconds), [r.offset_seconds for r in reminders], least_seconds(sends, self.budgets), self.scope.lead
        ))

    @staticmethod
    def _asked(reminders: list[ReminderInput]) -> list[reminder_rule.Reminder]:
        return [reminder_rule.Reminder(r.event_id, r.offset_seconds, r.starts_at) for r in reminders]

    def _batches(self, recipients: dict[int, list[int]]) -> list[list[DeliveryBatch]]:
        batch_size = int(self.app.config["DELIVERY_BATCH_SIZE"])
        groups: list[list[DeliveryBatch]] = [[]]
        room = batch_size
        for notification_id, subscription_ids in recipients.items():
            for chunk in planning.chunks(subscription_ids, batch_size):
                if len(chunk) > room:
                    groups.append([])
                    room = batch_size
                groups[-1].append(DeliveryBatch(notification_id, SubscriptionRange(chunk[0], chunk[-1])))
                room -= len(chunk)
        return [group for group in groups if group]
