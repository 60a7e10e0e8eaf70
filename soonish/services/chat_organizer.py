"""Organizers working from chat: natural-language times ("tomorrow 7pm", "fri 18:30"), and
create / cancel waiting for a Confirm button. Only a chat account linked to the event's owner
may change an event."""
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import dateparser
from sqlalchemy import select

from soonish.domain import communities
from soonish.domain.communities import Action
from soonish.field_limits import TITLE_MAX
from soonish.models import ChatIdentity, Event, PendingChatAction, User, db, utcnow
from soonish.services.errors import Conflict, Forbidden, NotFound, ValidationFailed
from soonish.services.events import EventFields, cancel_event, create_event, get_event_for_organizer, update_event, zone
from soonish.services.notifications import announce as send_announcement
from soonish.i18n import _l, current_locale, format_datetime

# A Confirm button older than this asks again: the preview it confirmed may be stale.
CONFIRM_WITHIN = timedelta(minutes=15)
TIME_EXAMPLES = "“tomorrow 7pm”, “fri 18:30”, “in 3 hours” or “next monday at noon”"


def _read(text: str, zone_name: str, now: datetime | None) -> datetime | None:
    """``text`` as a time in ``zone_name`` (future dates preferred), aware in that zone; None
    when dateparser can't read it."""
    local_now = (now or utcnow()).astimezone(zone(zone_name)).replace(tzinfo=None)
    return dateparser.parse(text, languages=["en"], settings={
        "TIMEZONE": zone_name, "RETURN_AS_TIMEZONE_AWARE": True, "PREFER_DATES_FROM": "future",
        "RELATIVE_BASE": local_now,
    }) if text.strip() else None


def parse_when(text: str, zone_name: str, now: datetime | None = None) -> datetime:
    """``text`` as an instant, read in ``zone_name`` (future dates preferred); UTC-aware."""
    parsed = _read(text, zone_name, now)
    if parsed is None:
        raise ValidationFailed.field("when", _l("I can't read “%(text)s” as a time. Try %(examples)s.", text=text, examples=TIME_EXAMPLES))
    return parsed.astimezone(ZoneInfo("UTC"))


# A time of day named in a phrase: "7pm", "8 am", "18:30", "noon".
CLOCK = re.compile(r"\b(\d{1,2}(:\d{2})?\s*(am|pm)|\d{1,2}:\d{2}|noon|midnight)\b", re.IGNORECASE)
BARE_NUMBER = re.compile(r"\d+")
# The longest time read ("in two weeks at 18:30" has 5 words): each ending tried is one
# dateparser call, 10-50 ms, and a long title would otherwise take seconds.
TIME_WORDS_MAX = 8


@dataclass(frozen=True)
class Reading:
    """One way to split `create <title> <when>`: the title, and the time (UTC-aware)."""

    title: str
    starts_at: datetime


def read_title_and_when(text: str, zone_name: str, now: datetime | None = None) -> list[Reading]:
    """"Board games a week from tomorrow 8am" → [("Board games", that instant)]: the longest
    ending dateparser reads as a time is the time, and the rest the title.

    Endings are read from the shortest up, and a longer one counts only if it keeps the time of
    day that the last one counted named: dateparser drops words it can't place, and reads "A
    tomorrow 7pm" (the "A" of "Team A") as 15:00 tomorrow. A bare number first may be the title's
    or the time's ("Meeting 42 fri 18:30": 42 read as the year 2042): when it moves the time, both
    readings come back, longest ending first, for the organizer to choose; when it doesn't, it is
    the title's ("Sprint 2 in 3 hours"). Empty when no ending after a title reads as a time."""
    words = text.split()
    counted: list[tuple[int, datetime]] = []  # (the ending's first word, its time), shortest first
    for cut in range(len(words) - 1, max(0, len(words) - 1 - TIME_WORDS_MAX), -1):
        at = _read(" ".join(words[cut:]), zone_name, now)
        if at is None:
            continue
        if counted:
            last_cut, last_at = counted[-1]
            if CLOCK.search(" ".join(words[last_cut:])) and (at.hour, at.minute) != (last_at.hour, last_at.minute):
                continue
        counted.append((cut, at))
    readings = [Reading(" ".join(words[:cut]), at.astimezone(ZoneInfo("UTC"))) for cut, at in reversed(counted[-2:])]
    if len(readings) == 2 and BARE_NUMBER.fullmatch(words[counted[-1][0]]):
        return readings if readings[0].starts_at != readings[1].starts_at else readings[1:]
    return readings[:1]


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
        raise Forbidden(_l("Organizing from chat needs your Soonish account: link this chat account first with "
                           "`link <your email>`."))
    return identity.user


def organized_event(identity: ChatIdentity, event: Event, action: Action = Action.EDIT_EVENT) -> Event:
    """The event if the chat account's person may do ``action`` to it (their role in its community)."""
    user = require_account(identity)
    if not communities.may(user, action, event):
        raise Forbidden(_l("Only the organizer of %(title)s can change it, and this chat account isn't linked "
                           "to theirs.", title=event.title))
    return get_event_for_organizer(user, event.id, action)


@dataclass(frozen=True)
class CreatePreview:
    pending_id: int
    # What the organizer confirms: one reading, or the ones to choose from when the title and
    # the time split more than one way (the button confirming the n-th carries n).
    choices: tuple[Reading, ...]
    timezone: str


def preview_create(identity: ChatIdentity, text: str, chat_zone: str | None, now: datetime | None = None,
                   when: str | None = None) -> CreatePreview:
    """Read the title and time (``text`` holds both unless ``when`` is given apart, as Discord's
    options do) and hold the creation for the organizer's Confirm."""
    user = require_account(identity)
    zone_name = organizer_zone(user, chat_zone)
    if when is None:
        readings = read_title_and_when(text, zone_name, now)
        if not readings:
            raise ValidationFailed.field(
                "when", _l("I can't find a time in “%(text)s”. Put it after the title, e.g. `create Team lunch "
                           "tomorrow 7pm`; times like %(examples)s work.", text=text, examples=TIME_EXAMPLES))
    else:
        readings = [Reading(text.strip(), parse_when(when, zone_name, now))]
    if any(not r.title or len(r.title) > TITLE_MAX for r in readings):
        raise ValidationFailed.field("title", _l("Give the event a title of up to %(count)s characters.", count=TITLE_MAX))
    choices = tuple(r for r in readings if r.starts_at > (now or utcnow()))
    if not choices:
        raise ValidationFailed.field(
            "when", _l("%(when)s is in the past.", when=format_datetime(readings[0].starts_at, current_locale(), zone_name,
                                                                  "EEE d MMM HH:mm")))
    pending = _hold(identity, "create", {"timezone": zone_name, "choices": [
        {"title": c.title, "starts_at": c.starts_at.isoformat()} for c in choices]})
    return CreatePreview(pending.id, choices, zone_name)


def preview_cancel(identity: ChatIdentity, event: Event) -> int:
    event = organized_event(identity, event)
    if event.status.value != "scheduled":
        raise Conflict(_l("%(title)s is already cancelled.", title=event.title) if event.status.value == "cancelled"
                       else _l("%(title)s is already over.", title=event.title))
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
        raise NotFound(_l("That's already done or dismissed."))
    if pending.chat_identity_id != identity.id:
        raise Forbidden(_l("Only the person who asked can confirm this."))
    db.session.delete(pending)  # taken once, even when a button is pressed twice
    db.session.flush()
    if pending.created_at < utcnow() - CONFIRM_WITHIN:
        db.session.commit()
        raise Conflict(_l("This confirmation has expired; ask again."))
    return pending


def confirm(identity: ChatIdentity, pending_id: int, choice: int = 0) -> tuple[str, Event]:
    """Carry out a confirmed action: ("create" | "cancel", the event); a create of the reading
    the organizer chose (the ``choice``-th)."""
    pending = _take(identity, pending_id)
    user = require_account(identity)
    if pending.action == "create":
        # A preview held before creates had choices (they live 15 minutes) is its one choice.
        choices = pending.payload.get("choices") or [pending.payload]
        if not 0 <= choice < len(choices):
            raise NotFound(_l("That choice isn't one of this preview's."))
        chosen = choices[choice]
        fields = EventFields(title=chosen["title"], starts_at=datetime.fromisoformat(chosen["starts_at"]),
                             timezone=pending.payload["timezone"])
        return "create", create_event(user, fields)
    event = db.session.get(Event, pending.payload["event_id"])
    if event is None:
        raise NotFound(_l("That event no longer exists."))
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
        raise ValidationFailed.field("when", _l("The new time is in the past."))
    changes = {"starts_at": starts_at}
    if event.ends_at is not None:
        changes["ends_at"] = starts_at + (event.ends_at - event.starts_at)
    return update_event(identity.user, event.id, changes)


def announce(identity: ChatIdentity, event: Event, text: str):
    """The first line is the headline (what chat and push show first), the rest its body."""
    event = organized_event(identity, event, Action.ANNOUNCE)
    headline, _, body = text.strip().partition("\n")
    if not headline.strip():
        raise ValidationFailed.field("text", _l("Write the announcement after the event, e.g. `announce <event> Doors open at 7`."))
    return send_announcement(identity.user, event.id, headline.strip()[:TITLE_MAX], body.strip())
