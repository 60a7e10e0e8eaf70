"""Events: create, edit, cancel, find; each change reaches the event's workflow."""
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timezone
from functools import cache
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, available_timezones

from flask import current_app
from sqlalchemy import select

from ..models import Event, EventStatus, NotificationKind, User, Visibility, db, utcnow
from ..temporal.client import TemporalUnavailable
from .broadcast import describe_change, record
from .errors import Conflict, Forbidden, NotFound, Unavailable, ValidationFailed
from .temporal import gateway, tell_event_workflow, workflow_input

TITLE_MAX = 200
EDITABLE_FIELDS = ("title", "description", "location", "starts_at", "ends_at", "timezone", "visibility",
                   "online_url", "show_follower_count")
ONLINE_URL_MAX = 500


@dataclass
class EventFields:
    """An event's editable fields as given by a form or the API. Times may be naive: they are
    then read in the event's time zone."""

    title: str
    starts_at: datetime
    timezone: str = "UTC"
    ends_at: datetime | None = None
    description: str = ""
    location: str = ""
    visibility: str = Visibility.PUBLIC.value
    online_url: str = ""
    show_follower_count: bool = True


def zone(name: str) -> ZoneInfo:
    if name not in _known_zones():
        raise ValidationFailed.field(
            "timezone", f"Unknown time zone {name!r}; use an IANA name like Europe/Paris."
        )
    return ZoneInfo(name)


@cache
def zone_names() -> tuple[str, ...]:
    """Every IANA time zone an event may use, sorted (for pickers and the API spec)."""
    return tuple(sorted(available_timezones() | {"UTC"}))


@cache
def _known_zones() -> frozenset[str]:
    # Checked against the known list: ZoneInfo() alone would also accept file paths.
    return frozenset(zone_names())


def to_utc(value: datetime, tz: ZoneInfo) -> datetime:
    if value.tzinfo is None:
        value = value.replace(tzinfo=tz)
    return value.astimezone(timezone.utc)


def _clean(fields: EventFields) -> dict:
    """Validate and normalize; raises ValidationFailed naming every bad field."""
    errors: dict[str, list[str]] = {}
    title = (fields.title or "").strip()
    if not title:
        errors["title"] = ["A title is required."]
    elif len(title) > TITLE_MAX:
        errors["title"] = [f"Keep the title under {TITLE_MAX} characters."]
    try:
        tz = zone(fields.timezone)
    except ValidationFailed as exc:
        errors.update(exc.fields)
        tz = ZoneInfo("UTC")
    starts_at = to_utc(fields.starts_at, tz)
    ends_at = to_utc(fields.ends_at, tz) if fields.ends_at else None
    if ends_at is not None and ends_at <= starts_at:
        errors["ends_at"] = ["The end must be after the start."]
    try:
        visibility = Visibility(fields.visibility)
    except ValueError:
        errors["visibility"] = ["Choose public, unlisted or private."]
        visibility = Visibility.PUBLIC
    online_url = (fields.online_url or "").strip()
    if online_url:
        parts = urlsplit(online_url)
        if parts.scheme not in ("http", "https") or not parts.netloc or len(online_url) > ONLINE_URL_MAX:
            errors["online_url"] = [f"Give a link starting with https:// or http:// (up to {ONLINE_URL_MAX} characters)."]
    if errors:
        raise ValidationFailed("Some fields need attention.", errors)
    return dict(
        online_url=online_url,
        show_follower_count=bool(fields.show_follower_count),
        title=title,
        description=(fields.description or "").strip(),
        location=(fields.location or "").strip()[:300],
        starts_at=starts_at,
        ends_at=ends_at,
        timezone=fields.timezone,
        visibility=visibility,
    )


def check_event_fields(fields: EventFields) -> None:
    """Validate without saving, for forms that check fields as the organizer fills them in."""
    _clean(fields)


def _slug_for(title: str) -> str:
    # The random tail makes unlisted links unguessable and slugs unique.
    base = re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")[:60] or "event"
    return f"{base}-{secrets.token_hex(3)}"


def create_event(organizer: User, fields: EventFields) -> Event:
    event = Event(organizer_id=organizer.id, slug=_slug_for(fields.title), **_clean(fields))
    db.session.add(event)
    db.session.flush()
    try:
        gateway().start_event_workflow(workflow_input(event))
    except TemporalUnavailable as exc:
        db.session.rollback()
        current_app.logger.warning("event not created: temporal unavailable: %s", exc)
        raise Unavailable("Soonish can't schedule events right now; please try again in a minute.") from exc
    db.session.commit()
    current_app.logger.info("event created", extra={"event_id": event.id})
    return event


def update_event(actor: User, event_id: int, changes: dict) -> Event:
    """Apply ``changes`` (a subset of EventFields) and tell the workflow the new version."""
    event = get_event_for_organizer(actor, event_id)
    if event.status != EventStatus.SCHEDULED:
        raise Conflict("Only scheduled events can be edited.", {"status": [event.status.value]})
    current = {name: getattr(event, name) for name in EDITABLE_FIELDS}
    current["visibility"] = event.visibility.value
    unknown = set(changes) - set(EDITABLE_FIELDS)
    if unknown:
        raise ValidationFailed("Unknown fields.", {name: ["Not an editable field."] for name in unknown})
    merged = EventFields(**{**current, **changes})
    cleaned = _clean(merged)
    if all(getattr(event, k) == v for k, v in cleaned.items()):
        return event
    before = {name: getattr(event, name) for name in EDITABLE_FIELDS}
    for name, value in cleaned.items():
        setattr(event, name, value)
    event.version += 1
    summary = describe_change(before, event)
    notification = record(event, NotificationKind.UPDATE, f"Updated: {event.title}", summary, author=actor) if summary else None
    db.session.commit()
    _tell_workflow("signal_event_updated", event, notification)
    return event


def cancel_event(actor: User, event_id: int) -> Event:
    event = get_event_for_organizer(actor, event_id)
    if event.status == EventStatus.CANCELLED:
        return event
    if event.status == EventStatus.COMPLETED:
        raise Conflict("This event is already over.", {"status": ["completed"]})
    event.status = EventStatus.CANCELLED
    event.version += 1
    notification = record(
        event, NotificationKind.CANCEL, f"Cancelled: {event.title}",
        "The organizer has cancelled this event.", author=actor,
    )
    db.session.commit()
    _tell_workflow("signal_event_cancelled", event, notification)
    return event


def _tell_workflow(signal: str, event: Event, notification) -> None:
    notification_id = notification.id if notification else None
    tell_event_workflow(
        event, lambda temporal, params: getattr(temporal, signal)(params, notification_id), "event change"
    )


def can_view(viewer: User | None, event: Event) -> bool:
    if event.visibility == Visibility.PRIVATE:
        return viewer is not None and viewer.is_authenticated and viewer.id == event.organizer_id
    return True


def get_visible_event(viewer: User | None, event_id: int | None = None, slug: str | None = None) -> Event:
    """The event if ``viewer`` may see it; private events of others look like missing ones."""
    if event_id is not None:
        event = db.session.get(Event, event_id)
    else:
        event = db.session.scalar(select(Event).where(Event.slug == slug))
    if event is None or not can_view(viewer, event):
        raise NotFound("No such event.")
    return event


def get_event_for_organizer(actor: User, event_id: int) -> Event:
    event = get_visible_event(actor, event_id=event_id)
    if event.organizer_id != actor.id:
        raise Forbidden("Only the event's organizer can change it.")
    return event


def list_upcoming_public_events(limit: int = 50) -> list[Event]:
    return list(
        db.session.scalars(
            select(Event)
            .where(
                Event.visibility == Visibility.PUBLIC,
                Event.status == EventStatus.SCHEDULED,
                Event.starts_at >= utcnow(),
            )
            .order_by(Event.starts_at)
            .limit(limit)
        )
    )


def list_organized_events(organizer: User) -> list[Event]:
    return list(
        db.session.scalars(
            select(Event).where(Event.organizer_id == organizer.id).order_by(Event.starts_at.desc())
        )
    )
