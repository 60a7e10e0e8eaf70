"""Reminder activities: keep an event's schedules in line with its subscriptions, and turn a
due reminder into one notification (exactly one, however often its schedule fires)."""
import asyncio
from dataclasses import dataclass
from datetime import datetime

from flask import Flask
from sqlalchemy import select
from temporalio import activity
from temporalio.client import Client

from ..messages import duration_text
from ..models import Event, EventStatus, Notification, NotificationKind, db, reminder_offsets_in_use, utcnow
from .fanout import insert_ignoring_duplicates
from .schedules import ScheduleScope, delete_reminder, put_reminder
from .activities import database_activity
from .shared import ActivityName, ReminderInput, ReminderSync, ReminderSyncResult


@dataclass
class ReminderPlan:
    """What the database says an event's reminders should be."""

    starts_at: datetime | None  # None: the event is gone, cancelled or over (no reminders)
    version: int
    offsets: set[int]


def reminder_dedupe_key(event_id: int, offset: int, starts_at: datetime) -> str:
    # The start time is part of the key: a reminder for an old time never stands in for the new.
    return f"reminder:{event_id}:{offset}:{starts_at.isoformat()}"


class ReminderActivities:
    def __init__(self, app: Flask, client: Client) -> None:
        self.app = app
        self.client = client
        self.scope = ScheduleScope.from_config(app.config)

    def all(self) -> list:
        return [self.sync_reminders, self.prepare_reminder]

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

    @database_activity(ActivityName.PREPARE_REMINDER)
    def prepare_reminder(self, reminder: ReminderInput) -> int | None:
        """The reminder's notification id, or None when it must not be sent: the event moved
        (this reminder is for its old time), was cancelled, or has already started."""
        with self.app.app_context():
            event = db.session.get(Event, reminder.event_id)
            if (
                event is None
                or event.status != EventStatus.SCHEDULED
                or event.starts_at != reminder.starts_at
                or utcnow() >= event.starts_at
            ):
                return None
            key = reminder_dedupe_key(event.id, reminder.offset_seconds, event.starts_at)
            db.session.execute(
                insert_ignoring_duplicates(Notification.__table__).values(
                    event_id=event.id, kind=NotificationKind.REMINDER,
                    title=f"Reminder: {event.title} starts in {duration_text(reminder.offset_seconds)}",
                    body="", dedupe_key=key, reminder_offset=reminder.offset_seconds, created_at=utcnow(),
                )
            )
            notification_id = db.session.scalar(select(Notification.id).where(Notification.dedupe_key == key))
            db.session.commit()
            return notification_id
