"""THE reminder rule, in one place. A reminder is "``offset`` seconds before the event starts",
for the subscriptions holding that offset:

- it is due at ``starts_at - offset`` (``due_at``);
- it is made for one start time: its notification's dedupe key names that time
  (``dedupe_key``), so a reminder made for an old time never stands in for the new one;
- it still stands while its event is scheduled, has not started, and still starts at the time
  the reminder was made for (``still_stands``); the "starting now" message is the reminder at
  offset ``START_OFFSET``, which may still go out up to ``START_MESSAGE_GRACE`` after the
  start, also once an event without an end has completed at its start;
- it goes to the active subscriptions holding its offset (``is_recipient``, ``holders``).

The organizer's "still coming?" check is a reminder of its own kind: asked of those going
(an RSVP), ``still_coming_hours`` before the start, with "yes" / "can't make it" answers. Its
offset is its lead time negated (``still_coming_offset``), so it never meets a reminder of the
same lead: it has its own schedule, slot entry and dedupe key (``still-coming:…``), and the
schedules and workflows carry it like any other offset. It stands only while the event still
asks it at that lead.

Everything else (schedules, the slot workflows, the delivery batches) asks these functions.
The database functions run inside the app context.
"""
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select

from soonish.domain.messages import STILL_COMING_BODY, reminder_title
from soonish.models import (
    Event, EventStatus, Notification, NotificationKind, Rsvp, RsvpAnswer, Subscription, SubscriptionStatus, db,
    insert_ignoring_duplicates, reminder_offsets_in_use, utcnow,
)

# The "starting now" message is a reminder with offset 0 (channels that follow an event hold it);
# it may still go out this long after the start (a busy worker), never later.
START_OFFSET = 0
START_MESSAGE_GRACE = timedelta(minutes=5)


# Sending ahead. A reminder's sends are paced by their destinations' budgets like any others:
# 10,000 mails to our mail server at its 100 a second take 100 s at the least. A slot's sends
# fill most of a budget: 2,000 mails at 100 a second took 21.8 and 24.3 s, 10,000 took 105 s
# (bench/reminders.py, budget scenario, two workers sharing the budget through Redis). A slot
# whose sends need longer than SENDING_GRACE at BUDGET_USE of the budget starts that much early,
# so that its last reminder lands about SENDING_GRACE after the due time (the rest of the 5 s
# target is for the work around the sends): 0.92 lands those runs between 2 s early and 5 s
# late; 0.8, as this reckoned first, made the 10,000 land 14 s early. Never earlier than the
# reminder's schedule fires (the lead, REMINDER_LEAD_SECONDS: 120 s by default), nor than
# EARLY_SHARE of the reminder's own offset before its due time: a reminder must still tell the
# truth, so a 5-minute one comes at most 2 minutes early (its text says "starts in 5 minutes";
# it may come at 7), a 1-minute one 24 s.
SENDING_GRACE = timedelta(seconds=2)
BUDGET_USE = 0.92
EARLY_SHARE = 0.4


def sends_from(due: datetime, offsets: list[int], budget_seconds: float, lead: timedelta) -> datetime:
    """When the sends of reminders due at ``due`` (of these ``offsets``) start, given the least
    time their destinations' budgets allow for them (``pacing.least_seconds``) and the lead
    their schedules fire with."""
    needed = timedelta(seconds=budget_seconds / BUDGET_USE) - SENDING_GRACE
    allowed = min([lead] + [timedelta(seconds=lead_seconds(offset) * EARLY_SHARE) for offset in offsets])
    return due - max(timedelta(0), min(needed, allowed))


def still_coming_offset(event: Event) -> int | None:
    """The offset of the event's still-coming check, None when the event doesn't ask it."""
    if not (event.still_coming_check and event.rsvp_enabled):
        return None
    return -event.still_coming_hours * 3600


def is_still_coming(offset_seconds: int) -> bool:
    return offset_seconds < 0


def lead_seconds(offset_seconds: int) -> int:
    """How long before the start it goes out (a check's offset is its lead negated)."""
    return abs(offset_seconds)


def due_at(starts_at: datetime, offset_seconds: int) -> datetime:
    return starts_at - timedelta(seconds=lead_seconds(offset_seconds))


def dedupe_key(event_id: int, offset_seconds: int, starts_at: datetime) -> str:
    """A reminder's notification key (each recipient gets it once: the deliveries ledger). The
    start time is in it: a reminder made for an old time never stands in for the new one."""
    if is_still_coming(offset_seconds):
        return f"still-coming:{event_id}:{lead_seconds(offset_seconds)}:{starts_at.isoformat()}"
    return f"reminder:{event_id}:{offset_seconds}:{starts_at.isoformat()}"


def due_of(notification: Notification) -> datetime | None:
    """When a reminder (or still-coming check) was due: the start time its key names less its
    lead. The event may have moved since; the key keeps the time it was made for. None for
    other messages."""
    if notification.reminder_offset is None or not notification.dedupe_key:
        return None
    starts_at = datetime.fromisoformat(notification.dedupe_key.split(":", 3)[3])
    return due_at(starts_at, notification.reminder_offset)


def still_stands(event: Event, offset_seconds: int, key: str, now: datetime | None = None) -> bool:
    """Whether the reminder keyed ``key`` should still go out: not once its event was
    cancelled or has started, nor for an event that moved (the key names the old time). The
    start message goes at the start itself: up to START_MESSAGE_GRACE late, also when an
    event without an end completes at its start."""
    starting = offset_seconds == START_OFFSET
    return (
        (event.status == EventStatus.SCHEDULED or (starting and event.status == EventStatus.COMPLETED))
        and key == dedupe_key(event.id, offset_seconds, event.starts_at)
        and (not is_still_coming(offset_seconds) or offset_seconds == still_coming_offset(event))
        and (now or utcnow()) < event.starts_at + (START_MESSAGE_GRACE if starting else timedelta(0))
    )


def notification_stands(notification: Notification, event: Event) -> bool:
    """Whether a notification should still go out: always, unless it is a reminder that no
    longer stands (it is planned ahead of its due time, and checked again when it is sent)."""
    if notification.reminder_offset is None:
        return True
    return still_stands(event, notification.reminder_offset, notification.dedupe_key)


def notification_due(notification: Notification, event: Event) -> datetime | None:
    """When a reminder was due (to measure how late it went out); None for anything else."""
    if notification.reminder_offset is None:
        return None
    return due_at(event.starts_at, notification.reminder_offset)


def is_recipient(notification: Notification, subscription_offsets: list[int], going: bool = False) -> bool:
    """A reminder goes only to subscriptions holding its offset, a still-coming check only to
    those ``going`` (see ``going_users``); everything else to all."""
    if notification.reminder_offset is None:
        return True
    if is_still_coming(notification.reminder_offset):
        return going
    return notification.reminder_offset in subscription_offsets


def going_users(notification: Notification) -> set[int]:
    """The users a still-coming check goes to (those going as it is planned and sent); none
    for anything else, which asks no one's answer."""
    if notification.reminder_offset is None or not is_still_coming(notification.reminder_offset):
        return set()
    return set(db.session.scalars(
        select(Rsvp.user_id).where(Rsvp.event_id == notification.event_id, Rsvp.answer == RsvpAnswer.GOING)
    ))


def kind(offset_seconds: int) -> NotificationKind:
    return NotificationKind.STILL_COMING if is_still_coming(offset_seconds) else NotificationKind.REMINDER


def title(event: Event, offset_seconds: int) -> str:
    """The title kept on a reminder's notification (each reader's is said anew in their
    language: ``messages.framed``). A still-coming check's offset is its lead negated, the start
    message's START_OFFSET, as ``reminder_title`` reads them."""
    return reminder_title(event.title, offset_seconds)


@dataclass(frozen=True)
class Reminder:
    """One reminder asked for: holders of ``offset_seconds`` before ``starts_at``."""

    event_id: int
    offset_seconds: int
    starts_at: datetime

    @property
    def key(self) -> str:
        return dedupe_key(self.event_id, self.offset_seconds, self.starts_at)


def _standing(reminders: list[Reminder]) -> tuple[list[Reminder], dict[int, Event]]:
    """The reminders that still stand, and their events by id."""
    event_ids = {r.event_id for r in reminders}
    events = {e.id: e for e in db.session.scalars(select(Event).where(Event.id.in_(event_ids)))}
    now = utcnow()
    standing = [r for r in reminders if r.event_id in events and still_stands(events[r.event_id], r.offset_seconds, r.key, now)]
    return standing, events


def make_notifications(reminders: list[Reminder]) -> list[Notification]:
    """One notification per reminder that still stands, made once however often it is asked
    for (its dedupe key is unique). Returns them, committed."""
    standing, events = _standing(reminders)
    if not standing:
        return []
    now = utcnow()
    rows = [
        dict(event_id=r.event_id, kind=kind(r.offset_seconds), title=title(events[r.event_id], r.offset_seconds),
             body=STILL_COMING_BODY if is_still_coming(r.offset_seconds) else "", dedupe_key=r.key,
             reminder_offset=r.offset_seconds, created_at=now)
        for r in standing
    ]
    db.session.execute(insert_ignoring_duplicates(Notification.__table__), rows)
    db.session.commit()
    return list(db.session.scalars(select(Notification).where(Notification.dedupe_key.in_([r.key for r in standing]))))


def recipients_by_notification(notifications: list[Notification]) -> dict[int, list[int]]:
    """The active subscriptions each reminder goes to, by notification id, in id order."""
    return {n.id: ids for n, ids in zip(notifications, _recipient_lists(notifications))}


def recipients_of(reminders: list[Reminder]) -> list[int]:
    """The active subscriptions the standing ones of ``reminders`` go to, with nothing written:
    a slot counts them well before it makes their notifications (the organizer's view shows
    a notification only once it is about to go out)."""
    standing, _ = _standing(reminders)
    # Unsaved notifications, only for the recipient rule to read.
    asked = [Notification(event_id=r.event_id, reminder_offset=r.offset_seconds) for r in standing]
    return [sid for ids in _recipient_lists(asked) for sid in ids] if asked else []


def _recipient_lists(notifications: list[Notification]) -> list[list[int]]:
    """The active subscriptions each reminder goes to, in id order, in the notifications' order."""
    holders: dict[int, list[tuple[int, int, list[int]]]] = {}
    for subscription_id, event_id, user_id, offsets in db.session.execute(
        select(Subscription.id, Subscription.event_id, Subscription.user_id, Subscription.reminder_offsets)
        .where(Subscription.event_id.in_({n.event_id for n in notifications}),
               Subscription.status == SubscriptionStatus.ACTIVE)
        .order_by(Subscription.id)
    ):
        holders.setdefault(event_id, []).append((subscription_id, user_id, offsets))
    recipients = []
    for n in notifications:
        going = going_users(n)
        recipients.append([sid for sid, user_id, offsets in holders.get(n.event_id, [])
                           if is_recipient(n, offsets, user_id in going)])
    return recipients


@dataclass
class SchedulePlan:
    """What the database says an event's reminder schedules should be."""

    starts_at: datetime | None  # None: the event is gone, cancelled or over (no reminders)
    version: int
    offsets: set[int]


def schedule_plan(event_id: int) -> SchedulePlan:
    event = db.session.get(Event, event_id)
    if event is None or event.status != EventStatus.SCHEDULED:
        return SchedulePlan(None, event.version if event else 0, set())
    return SchedulePlan(event.starts_at, event.version, offsets_in_use(event))


def offsets_in_use(event: Event) -> set[int]:
    """The offsets the event's reminder schedules are for: every one some active follower
    holds, and its still-coming check when it asks it."""
    check = still_coming_offset(event)
    return reminder_offsets_in_use(event.id) | ({check} if check is not None else set())
