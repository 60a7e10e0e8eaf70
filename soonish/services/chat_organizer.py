"""Organizers working from chat: natural-language times ("tomorrow 7pm", "fri 18:30"), and
create / cancel waiting for a Confirm button. Only a chat account linked to the event's owner
may change an event."""
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import dateparser
from sqlalchemy import select

from ..field_limits import TITLE_MAX
from ..models import ChatIdentity, Event, PendingChatAction, User, db, utcnow
from .errors import Conflict, Forbidden, NotFound, ValidationFailed
from .events import EventFields, cancel_event, create_event, get_event_for_organizer, update_event, zone
from .notifications import announce as send_announcement

# A Confirm button older than this asks again: the preview it confirmed may be stale.
CONFIRM_WITHIN = timedelta(minutes=15)
TIME_EXAMPLES = "“tomorrow 7pm”, “fri 18:30”, “in 3 hours” or “next monday at noon”"


def parse_when(text: str, zone_name: str, now: datetime | None = None) -> datetime:
    """``text`` as an instant, read in ``zone_name`` (future dates preferred); UTC-aware."""
    tz = zone(zone_name)
    local_now = (now or utcnow()).astimezone(tz).replace(tzinfo=None)
    parsed = dateparser.parse(text, languages=["en"], settings={
        "TIMEZONE": zone_name, "RETURN_AS_TIMEZONE_AWARE": True, "PREFER_DATES_FROM": "future",
        "RELATIVE_BASE": local_now,
    }) if text.strip() else None
    if parsed is None:
        raise ValidationFailed.field("when", f"I can't read “{text}” as a time. Try {TIME_EXAMPLES}.")
    return parsed.astimezone(ZoneInfo("UTC"))


# Words a time may start with. dateparser alone reads too much as a time: "A tomorrow 7pm" (the
# "a" of "Team A") or "42 fri 18:30" (as the year 2042), so a bare word or number never starts one.
TIME_STARTS = {
    "today", "tonight", "tomorrow", "yesterday", "next", "last", "this", "in", "at", "on", "noon", "midnight",
    "mon", "monday", "tue", "tues", "tuesday", "wed", "wednesday", "thu", "thur", "thurs", "thursday",
    "fri", "friday", "sat", "saturday", "sun", "sunday",
    "jan", "january", "feb", "february", "mar", "march", "apr", "april", "may", "jun", "june", "jul", "july",
    "aug", "august", "sep", "sept", "september", "oct", "october", "nov", "november", "dec", "december",
}
CLOCK_OR_DATE = re.compile(r"^\d{1,4}([:./-]\d{1,2}.*|(am|pm))$", re.IGNORECASE)


def _may_start_time(word: str) -> bool:
    return word.lower() in TIME_STARTS or bool(CLOCK_OR_DATE.match(word))


def split_title_and_when(text: str, zone_name: str, now: datetime | None = None) -> tuple[str, datetime]:
    """"Team lunch tomorrow 7pm" → ("Team lunch", that instant): the longest ending that starts
    like a time and reads as one is the time, the rest the title."""
    words = text.split()
    for cut in range(1, len(words)):
        if not _may_start_time(words[cut]):
            continue
        try:
            return " ".join(words[:cut]), parse_when(" ".join(words[cut:]), zone_name, now)
        except ValidationFailed:
            continue
    raise ValidationFailed.field(
        "when", f"I can't find a time in “{text}”. Put it after the title, e.g. `create Team lunch tomorrow 7pm`; "
                f"times like {TIME_EXAMPLES} work.")


def organizer_zone(user: User, chat_zone: str | None) -> str:
    """Where the organizer's times are read: their chat profile's zone, else the zone of the
    event they made last, else UTC."""
    if chat_zone:
        try:
            return zone(chat_zone).key
        except ValidationFailed:
            pass
    latest = db.session.scalar(select(Event.timezone).where(Event.organizer_id == user.id).order_by(Event.id.desc()).limit(1))
    return latest or "UTC"


def require_account(identity: ChatIdentity) -> User:
    """Organizing needs a Soonish account: a chat account linked to one."""
    if identity.is_channel or identity.user.email is None:
        raise Forbidden("Organizing from chat needs your Soonish account: link this chat account first with "
                        "`link <your email>`.")
    return identity.user


def organized_event(identity: ChatIdentity, event: Event) -> Event:
    user = require_account(identity)
    if event.organizer_id != user.id:
        raise Forbidden(f"Only the organizer of {event.title} can change it, and this chat account isn't linked "
                        f"to theirs.")
    return get_event_for_organizer(user, event.id)


@dataclass(frozen=True)
class CreatePreview:
    pending_id: int
    title: str
    starts_at: datetime
    timezone: str


def preview_create(identity: ChatIdentity, text: str, chat_zone: str | None, now: datetime | None = None,
                   when: str | None = None) -> CreatePreview:
    """Read the title and time (``text`` holds both unless ``when`` is given apart, as Discord's
    options do) and hold the creation for the organizer's Confirm."""
    user = require_account(identity)
    zone_name = organizer_zone(user, chat_zone)
    if when is None:
        title, starts_at = split_title_and_when(text, zone_name, now)
    else:
        title, starts_at = text.strip(), parse_when(when, zone_name, now)
    if not title or len(title) > TITLE_MAX:
        raise ValidationFailed.field("title", f"Give the event a title of up to {TITLE_MAX} characters.")
    if starts_at <= (now or utcnow()):
        raise ValidationFailed.field("when", f"{starts_at.astimezone(ZoneInfo(zone_name)):%a %-d %b %H:%M} is in the past.")
    pending = _hold(identity, "create", {"title": title, "starts_at": starts_at.isoformat(), "timezone": zone_name})
    return CreatePreview(pending.id, title, starts_at, zone_name)


def preview_cancel(identity: ChatIdentity, event: Event) -> int:
    event = organized_event(identity, event)
    if event.status.value != "scheduled":
        raise Conflict(f"{event.title} is already {event.status.value}.")
    return _hold(identity, "cancel", {"event_id": event.id}).id


def _hold(identity: ChatIdentity, action: str, payload: dict) -> PendingChatAction:
    # Old ones of this person go: a pending action is only ever a few minutes old.
    for stale in db.session.scalars(select(PendingChatAction).where(
            PendingChatAction.chat_identity_id == identity.id,
            PendingChatAction.created_at < utcnow() - CONFIRM_WITHIN)):
        db.session.delete(stale)
    pending = PendingChatAction(chat_identity_id=identity.id, action=action, payload=payload)
    db.session.add(pending)
    db.session.commit()
    return pending


def _take(identity: ChatIdentity, pending_id: int) -> PendingChatAction:
    pending = db.session.get(PendingChatAction, pending_id)
    if pending is None:
        raise NotFound("That's already done or dismissed.")
    if pending.chat_identity_id != identity.id:
        raise Forbidden("Only the person who asked can confirm this.")
    db.session.delete(pending)  # taken once, even when a button is pressed twice
    db.session.flush()
    if pending.created_at < utcnow() - CONFIRM_WITHIN:
        db.session.commit()
        raise Conflict("This confirmation has expired; ask again.")
    return pending


def confirm(identity: ChatIdentity, pending_id: int) -> tuple[str, Event]:
    """Carry out a confirmed action: ("create" | "cancel", the event)."""
    pending = _take(identity, pending_id)
    user = require_account(identity)
    if pending.action == "create":
        fields = EventFields(title=pending.payload["title"], starts_at=datetime.fromisoformat(pending.payload["starts_at"]),
                             timezone=pending.payload["timezone"])
        return "create", create_event(user, fields)
    event = db.session.get(Event, pending.payload["event_id"])
    if event is None:
        raise NotFound("That event no longer exists.")
    return "cancel", cancel_event(user, organized_event(identity, event).id)


def dismiss(identity: ChatIdentity, pending_id: int) -> None:
    _take(identity, pending_id)
    db.session.commit()


def move_start(identity: ChatIdentity, event: Event, when: str, chat_zone: str | None,
               now: datetime | None = None) -> Event:
    """`edit <event> when <new time>`: the event keeps its length."""
    event = organized_event(identity, event)
    starts_at = parse_when(when, organizer_zone(identity.user, chat_zone), now)
    if starts_at <= (now or utcnow()):
        raise ValidationFailed.field("when", "The new time is in the past.")
    changes = {"starts_at": starts_at}
    if event.ends_at is not None:
        changes["ends_at"] = starts_at + (event.ends_at - event.starts_at)
    return update_event(identity.user, event.id, changes)


def announce(identity: ChatIdentity, event: Event, text: str):
    """The first line is the headline (what chat and push show first), the rest its body."""
    event = organized_event(identity, event)
    headline, _, body = text.strip().partition("\n")
    if not headline.strip():
        raise ValidationFailed.field("text", "Write the announcement after the event, e.g. `announce <event> Doors open at 7`.")
    return send_announcement(identity.user, event.id, headline.strip()[:TITLE_MAX], body.strip())
