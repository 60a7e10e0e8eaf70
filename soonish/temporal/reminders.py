"""Reminder activities: keep an event's schedules in line with its subscriptions; enroll a
fired reminder in the slot of its due second; at that second, turn each into one notification
(exactly one, however often its schedule fires) and plan its delivery."""
import asyncio
from dataclasses import dataclass
from datetime import datetime

from flask import Flask
from sqlalchemy import select
from temporalio import activity
from temporalio.client import Client

from ..messages import duration_text
from ..models import (
    Event, EventStatus, Notification, NotificationKind, Subscription, SubscriptionStatus, db, reminder_offsets_in_use,
    utcnow,
)
from .fanout import chunked, ids_range, insert_ignoring_duplicates
from .schedules import ScheduleScope, delete_reminder, put_reminder
from .activities import database_activity
from .shared import (
    START_OFFSET, ActivityName, DeliveryBatch, ReminderInput, ReminderSlot, ReminderSync, ReminderSyncResult, reminder_dedupe_key,
    reminder_slot_id,
)
from .workflows import ReminderSlotWorkflow


def reminder_title(event: Event, offset_seconds: int) -> str:
    if offset_seconds == START_OFFSET:
        return f"Starting now: {event.title}"
    return f"Reminder: {event.title} starts in {duration_text(offset_seconds)}"


@dataclass
class ReminderPlan:
    """What the database says an event's reminders should be."""

    starts_at: datetime | None  # None: the event is gone, cancelled or over (no reminders)
    version: int
    offsets: set[int]


class ReminderActivities:
    def __init__(self, app: Flask, client: Client) -> None:
        self.app = app
        self.client = client
        self.scope = ScheduleScope.from_config(app.config)

    def all(self) -> list:
        return [self.sync_reminders, self.enroll_reminder, self.plan_reminders]

    @activity.defn(name=ActivityName.SYNC_REMINDERS)
    async def sync_reminders(self, request: ReminderSync) -> ReminderSyncResult:
        plan = await asyncio.to_thread(self._plan, request.event_id)
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

    def _plan(self, event_id: int) -> ReminderPlan:
        with self.app.app_context():
            event = db.session.get(Event, event_id)
            if event is None or event.status != EventStatus.SCHEDULED:
                return ReminderPlan(None, event.version if event else 0, set())
            return ReminderPlan(event.starts_at, event.version, reminder_offsets_in_use(event_id))

    @activity.defn(name=ActivityName.ENROLL_REMINDER)
    async def enroll_reminder(self, reminder: ReminderInput) -> None:
        """Put the reminder in the slot workflow of its due second, starting it if needed."""
        await self.client.start_workflow(
            ReminderSlotWorkflow.run,
            ReminderSlot(reminder.due),
            id=reminder_slot_id(self.scope.id_prefix, reminder.due),
            task_queue=self.scope.task_queue,
            start_signal="enroll",
            start_signal_args=[reminder],
        )

    @database_activity(ActivityName.PLAN_REMINDERS)
    def plan_reminders(self, reminders: list[ReminderInput]) -> list[list[DeliveryBatch]]:
        """One notification per reminder that still stands (made once, however often it is
        asked for), and the recipients packed into delivery batches of about
        DELIVERY_BATCH_SIZE subscriptions across events. A few queries for the whole slot."""
        batch_size = int(self.app.config["DELIVERY_BATCH_SIZE"])
        with self.app.app_context():
            events = {e.id: e for e in db.session.scalars(select(Event).where(Event.id.in_({r.event_id for r in reminders})))}
            standing = [r for r in reminders if r.event_id in events and self._stands(r, events[r.event_id])]
            if not standing:
                return []
            rows = [
                dict(event_id=r.event_id, kind=NotificationKind.REMINDER,
                     title=reminder_title(events[r.event_id], r.offset_seconds),
                     body="", dedupe_key=reminder_dedupe_key(r.event_id, r.offset_seconds, r.starts_at),
                     reminder_offset=r.offset_seconds, created_at=utcnow())
                for r in standing
            ]
            db.session.execute(insert_ignoring_duplicates(Notification.__table__), rows)
            db.session.commit()
            notifications = list(db.session.scalars(
                select(Notification).where(Notification.dedupe_key.in_([row["dedupe_key"] for row in rows]))
            ))
            holders = self._holders({n.event_id for n in notifications})
        groups: list[list[DeliveryBatch]] = [[]]
        room = batch_size
        for notification in notifications:
            ids = [sid for sid, offsets in holders.get(notification.event_id, []) if notification.reminder_offset in offsets]
            for chunk in chunked(ids, batch_size):
                if len(chunk) > room:
                    groups.append([])
                    room = batch_size
                groups[-1].append(DeliveryBatch(notification.id, ids_range(chunk)))
                room -= len(chunk)
        return [group for group in groups if group]

    @staticmethod
    def _stands(reminder: ReminderInput, event: Event) -> bool:
        """Not for an event that moved (this reminder is for its old time), was cancelled, or
        has already started."""
        return event.status == EventStatus.SCHEDULED and event.starts_at == reminder.starts_at and utcnow() < event.starts_at

    @staticmethod
    def _holders(event_ids: set[int]) -> dict[int, list[tuple[int, list[int]]]]:
        """Active subscriptions of these events with their offsets, by event, in id order."""
        by_event: dict[int, list[tuple[int, list[int]]]] = {}
        for subscription_id, event_id, offsets in db.session.execute(
            select(Subscription.id, Subscription.event_id, Subscription.reminder_offsets)
            .where(Subscription.event_id.in_(event_ids), Subscription.status == SubscriptionStatus.ACTIVE)
            .order_by(Subscription.id)
        ):
            by_event.setdefault(event_id, []).append((subscription_id, offsets))
        return by_event
