"""Calendars: one event as an .ics file, and each user's secret feed of the events they follow.

Calendar apps recognise an event by its UID and take the highest SEQUENCE as the newest, so the UID
never changes and SEQUENCE is the event's version: an edit or a cancellation replaces the entry.
"""
import secrets
from collections.abc import Callable, Iterable
from datetime import timedelta
from zoneinfo import ZoneInfo

from icalendar import Alarm, Calendar
from icalendar import Event as CalendarEvent
from sqlalchemy import select

from ..models import Event, EventStatus, Subscription, SubscriptionStatus, User, db
from .errors import NotFound
from .events import can_view

PRODID = "-//Soonish//Soonish events//EN"
FEED_TOKEN_BYTES = 32

EventUrl = Callable[[Event], str]


def event_uid(event: Event) -> str:
    # The slug is unique and never changes, so the UID is stable across edits.
    return f"{event.slug}@soonish"


def _vevent(event: Event, url: str) -> CalendarEvent:
    zone = ZoneInfo(event.timezone)
    entry = CalendarEvent()
    entry.add("uid", event_uid(event))
    entry.add("dtstamp", event.updated_at)
    entry.add("dtstart", event.starts_at.astimezone(zone))
    if event.ends_at is not None:
        entry.add("dtend", event.ends_at.astimezone(zone))
    entry.add("summary", event.title)
    if event.description:
        entry.add("description", event.description)
    if event.location:
        entry.add("location", event.location)
    entry.add("url", url)
    entry.add("sequence", event.version)
    entry.add("status", "CANCELLED" if event.status == EventStatus.CANCELLED else "CONFIRMED")
    return entry


def _reminder(event: Event, offset_seconds: int) -> Alarm:
    alarm = Alarm()
    alarm.add("action", "DISPLAY")
    alarm.add("trigger", -timedelta(seconds=offset_seconds))
    alarm.add("description", f"Soon: {event.title}")
    return alarm


def _calendar(entries: Iterable[tuple[Event, CalendarEvent]], name: str) -> bytes:
    calendar = Calendar()
    calendar.add("prodid", PRODID)
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("x-wr-calname", name)
    events = []
    for event, entry in entries:
        calendar.add_component(entry)
        events.append(event)
    if events:
        # VTIMEZONE rules only for the years the events span keep the file small.
        calendar.add_missing_timezones(
            first_date=min(e.starts_at for e in events).date() - timedelta(days=1),
            last_date=max(e.finishes_at for e in events).date() + timedelta(days=2),
        )
    return calendar.to_ical()


def event_calendar(event: Event, event_url: EventUrl) -> bytes:
    """One event as an .ics file, for "add to calendar"."""
    return _calendar([(event, _vevent(event, event_url(event)))], event.title)


def followed_subscriptions(user: User) -> list[Subscription]:
    """The user's active subscriptions to events they may still see, soonest first."""
    subscriptions = db.session.scalars(
        select(Subscription)
        .join(Subscription.event)
        .where(Subscription.user_id == user.id, Subscription.status == SubscriptionStatus.ACTIVE)
        .order_by(Event.starts_at)
    )
    return [s for s in subscriptions if can_view(user, s.event)]


def feed_calendar(user: User, event_url: EventUrl) -> bytes:
    """The user's feed: each followed event with one alarm per reminder offset."""
    entries = []
    for subscription in followed_subscriptions(user):
        event = subscription.event
        entry = _vevent(event, event_url(event))
        for offset in subscription.reminder_offsets or []:
            entry.add_component(_reminder(event, offset))
        entries.append((event, entry))
    return _calendar(entries, "Soonish: events I follow")


def rotate_feed_token(user: User) -> str:
    """Make a new feed secret; the old feed URL, if any, stops working at once."""
    user.calendar_token = secrets.token_urlsafe(FEED_TOKEN_BYTES)
    db.session.commit()
    return user.calendar_token


def revoke_feed_token(user: User) -> None:
    user.calendar_token = None
    db.session.commit()


def feed_owner(token: str) -> User:
    """The user whose feed ``token`` opens; revoked and unknown tokens look the same."""
    user = db.session.scalar(select(User).where(User.calendar_token == token)) if token else None
    if user is None:
        raise NotFound("No such calendar feed.")
    return user
