"""Calendars: one event as an .ics file, a series as one recurring entry, a community's feed, and
each user's secret feed of the events they follow (each event's entry: soonish/domain/ics.py).
"""
import secrets
from collections.abc import Callable
from datetime import timedelta
from zoneinfo import ZoneInfo

from icalendar import Alarm
from icalendar import Event as CalendarEvent
from sqlalchemy import select

from soonish.domain import ics
from soonish.models import Community, Event, EventStatus, Series, SeriesStatus, Subscription, SubscriptionStatus, User, db
from soonish.services import series as series_service
from soonish.services.errors import NotFound
from soonish.services.events import can_view
from soonish.i18n import _, _l, current_locale, render_in, supported

FEED_TOKEN_BYTES = 32

EventUrl = Callable[[Event], str]


def series_uid(series: Series) -> str:
    return f"{series.slug}@soonish"


def _reminder(event: Event, offset_seconds: int) -> Alarm:
    alarm = Alarm()
    alarm.add("action", "DISPLAY")
    alarm.add("trigger", -timedelta(seconds=offset_seconds))
    alarm.add("description", _("Soon: %(title)s", title=event.title))
    return alarm


def event_calendar(event: Event, event_url: EventUrl) -> bytes:
    """One event as an .ics file, for "add to calendar"."""
    return ics.event_calendar(event, event_url(event))


def series_calendar(series: Series, series_url: str, event_url: EventUrl) -> bytes:
    """A series as one recurring entry: its RRULE, an EXDATE per cancelled occurrence, and an
    entry of its own (same UID, RECURRENCE-ID = the original start) per occurrence edited on its own."""
    zone = ZoneInfo(series.timezone)
    duration = timedelta(seconds=series.duration_seconds) if series.duration_seconds is not None else None
    master = CalendarEvent()
    master.add("uid", series_uid(series))
    master.add("dtstamp", series.updated_at)
    master.add("dtstart", series.starts_at.astimezone(zone))
    if duration is not None:
        master.add("duration", duration)
    ics.describe(master, series, series_url)
    master.add("rrule", series_service.rule_of(series).ical(zone))
    master.add("status", "CANCELLED" if series.status == SeriesStatus.CANCELLED else "CONFIRMED")
    made = series_service.occurrences(series, upcoming=False)
    cancelled = [event.occurrence_start.astimezone(zone) for event in made if event.status == EventStatus.CANCELLED]
    if cancelled:
        master.add("exdate", cancelled)
    entries = []
    for event in made:
        if event.occurrence_overridden and event.status != EventStatus.CANCELLED:
            entry = ics.vevent(event, event_url(event), uid=series_uid(series))
            entry.add("recurrence-id", event.occurrence_start.astimezone(zone))
            entries.append((ics.span(event), entry))
    last_start = list(series_service.instance_starts(series))[-1]
    return ics.calendar([((series.starts_at, last_start + (duration or timedelta())), master), *entries], series.title)


def community_calendar(community: Community, events: list[Event], event_url: EventUrl) -> bytes:
    """A community's feed: each of its upcoming public events (``events``)."""
    return ics.calendar([(ics.span(event), ics.vevent(event, event_url(event))) for event in events], community.name)


def followed_subscriptions(user: User) -> list[Subscription]:
    """The user's active subscriptions to events they may still see, soonest first."""
    subscriptions = db.session.scalars(
        select(Subscription)
        .join(Subscription.event)
        .where(Subscription.user_id == user.id, Subscription.status == SubscriptionStatus.ACTIVE)
        .order_by(Event.starts_at)
    )
    # Following an event means having had its link: an unlisted one stays in the feed.
    return [s for s in subscriptions if can_view(user, s.event, has_link=True)]


def feed_calendar(user: User, event_url: EventUrl) -> bytes:
    """The user's feed: each followed event with one alarm per reminder offset, in the language
    they chose (else the one their calendar app asks for)."""
    with render_in(supported(user.locale) or current_locale()):
        return _feed_calendar(user, event_url)


def _feed_calendar(user: User, event_url: EventUrl) -> bytes:
    entries = []
    for subscription in followed_subscriptions(user):
        event = subscription.event
        entry = ics.vevent(event, event_url(event))
        for offset in subscription.reminder_offsets or []:
            entry.add_component(_reminder(event, offset))
        entries.append((ics.span(event), entry))
    return ics.calendar(entries, _("Soonish: events I follow"))


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
        raise NotFound(_l("No such calendar feed."))
    return user
