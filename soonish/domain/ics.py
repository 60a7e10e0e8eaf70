"""Events as iCalendar (.ics): the one entry of an event, and a calendar of entries. Plain
functions of events, used by the calendar downloads and feeds (services/calendar.py) and by the
confirm mail's attachment alike.

Calendar apps recognise an event by its UID and take the highest SEQUENCE as the newest, so the UID
never changes and SEQUENCE is the event's version: an edit or a cancellation replaces the entry.

An entry's description is written in the language being written in (the page's reader's, the
feed's owner's, the mail's reader's: the caller's ``render_in``), around the organizer's own words.
"""
from collections.abc import Iterable
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from icalendar import Calendar
from icalendar import Event as CalendarEvent

from soonish.domain.messages import when_text
from soonish.i18n import _
from soonish.models import Event, EventStatus, Series

PRODID = "-//Soonish//Soonish events//EN"


def event_uid(event: Event) -> str:
    # The slug is unique and never changes, so the UID is stable across edits.
    return f"{event.slug}@soonish"


def vevent(event: Event, url: str, uid: str | None = None) -> CalendarEvent:
    zone = ZoneInfo(event.timezone)
    entry = CalendarEvent()
    entry.add("uid", uid or event_uid(event))
    entry.add("dtstamp", event.updated_at)
    entry.add("dtstart", event.starts_at.astimezone(zone))
    if event.ends_at is not None:
        entry.add("dtend", event.ends_at.astimezone(zone))
    # Many calendar apps show neither STATUS nor the zone's name: the entry says both in words.
    said = [_("This event is cancelled.")] if event.status == EventStatus.CANCELLED else []
    said.append(_("When: %(when)s", when=when_text(event)))
    describe(entry, event, url, said)
    entry.add("sequence", event.version)
    entry.add("status", "CANCELLED" if event.status == EventStatus.CANCELLED else "CONFIRMED")
    return entry


def describe(entry: CalendarEvent, published: Event | Series, url: str, said: list[str] = ()) -> None:
    """What an entry says of its event or series: its title, place and page, and a description of
    ``said`` (lines in the reader's language), the organizer's description and the page's link."""
    entry.add("summary", published.title)
    entry.add("description", "\n\n".join(part for part in ("\n".join(said), published.description, url) if part))
    if published.location:
        entry.add("location", published.location)
    entry.add("url", url)


def span(event: Event) -> tuple[datetime, datetime]:
    return event.starts_at, event.finishes_at


def calendar(entries: Iterable[tuple[tuple[datetime, datetime], CalendarEvent]], name: str,
             method: str | None = None) -> bytes:
    """A calendar of ``entries``, each with the (start, finish) span its times cover. ``method``
    (iTIP's PUBLISH) for one sent by mail, which must say it as its MIME type does (RFC 6047)."""
    result = Calendar()
    result.add("prodid", PRODID)
    result.add("version", "2.0")
    result.add("calscale", "GREGORIAN")
    if method:
        result.add("method", method)
    result.add("x-wr-calname", name)
    spans = []
    for entry_span, entry in entries:
        result.add_component(entry)
        spans.append(entry_span)
    if spans:
        # VTIMEZONE rules only for the years the events span keep the file small.
        result.add_missing_timezones(
            first_date=min(start for start, _ in spans).date() - timedelta(days=1),
            last_date=max(finish for _, finish in spans).date() + timedelta(days=2),
        )
    return result.to_ical()


def event_calendar(event: Event, url: str, method: str | None = None) -> bytes:
    """One event as an .ics file, for "add to calendar" (a download, or a mail's attachment)."""
    return calendar([(span(event), vevent(event, url))], event.title, method)
