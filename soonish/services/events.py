"""Events: create, edit, cancel, find; each change reaches the event's workflow."""
import dataclasses
import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone, tzinfo
from functools import cache
from typing import TypeVar
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, available_timezones

from flask import current_app
from sqlalchemy import func, select

from soonish.field_limits import (
    EVENT_DESCRIPTION_MAX, LANGUAGE_TAG_MAX, LOCATION_MAX, ONLINE_URL_MAX, STILL_COMING_HOURS_DEFAULT, STILL_COMING_HOURS_MAX, STILL_COMING_HOURS_MIN, TITLE_MAX,
)
from soonish.links import new_slug
from soonish.domain import communities, community_follows
from soonish.domain.communities import Action
from soonish.domain.messages import CANCELLED_BODY, cancel_body, cancelled_title, describe_change, updated_title
from soonish.models import (
    Community, CommunityMember, Event, EventCover, EventStatus, NotificationKind, Rsvp, RsvpAnswer, Series, SeriesFollow, Subscription,
    SubscriptionStatus, User, Visibility, db, utcnow,
)
from soonish.domain import outbox
from soonish.models.event import Published
from soonish.services.broadcast import record
from soonish.services import webhook_endpoints
from soonish.services.concurrency import check_version, rerun_if_changed_meanwhile
from soonish.services.errors import Conflict, Forbidden, NotFound, ValidationFailed
from soonish.i18n import _l, format_number

# A start a few minutes ago is "now" (an organizer filling in the form as the event begins);
# anything earlier is in the past and refused.
START_GRACE = timedelta(minutes=5)
# How far ahead an event may be. With the start grace it also keeps every instant, shown in any
# zone, inside the years Python can represent (9999-12-31 UTC overflows on a page in Asia/Tokyo).
FURTHEST_AHEAD_YEARS = 10
CANCEL_REASON_MAX = 500  # a few sentences: it goes out in full by mail, chat and push
EDITABLE_FIELDS = ("title", "description", "location", "starts_at", "ends_at", "timezone", "visibility",
                   "online_url", "show_follower_count", "still_coming_check", "still_coming_hours", "language")


@dataclass
class SharedEventFields:
    """What an event and a series (services/series.py) are both given by a form or the API.
    Times may be naive: they are then read in the time zone given."""

    title: str
    starts_at: datetime
    timezone: str = "UTC"
    ends_at: datetime | None = None
    description: str = ""
    location: str = ""
    visibility: str = Visibility.PUBLIC.value
    online_url: str = ""


def shared_values(given: SharedEventFields) -> dict:
    """The shared fields of ``given`` by name, to make one kind of fields from another."""
    return {field.name: getattr(given, field.name) for field in dataclasses.fields(SharedEventFields)}


@dataclass
class EventFields(SharedEventFields):
    """An event's editable fields as given by a form or the API."""

    show_follower_count: bool = True
    # Ask those going, this many hours before the start, whether they're still coming.
    still_coming_check: bool = False
    still_coming_hours: int = STILL_COMING_HOURS_DEFAULT
    # The BCP 47 tag of the organizer's own text ("de", "pt-BR"); None: not said.
    language: str | None = None


# A BCP 47 language tag as people write one: a language, then optional script/region/variant.
LANGUAGE_TAG = re.compile(r"[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*")


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


def to_utc(value: datetime, tz: tzinfo, field: str) -> datetime:
    """``value`` in UTC (a naive value is read in ``tz``); a ValidationFailed naming ``field``
    for an instant outside the years a calendar can show (0001-01-01 in Tokyo is year 0 in UTC).
    Every instant a person gives goes through it: an event's times, a key's expiry, a list's bounds."""
    try:
        if value.tzinfo is None:
            value = value.replace(tzinfo=tz)
        return value.astimezone(timezone.utc)
    except (OverflowError, ValueError) as exc:
        raise ValidationFailed.field(field, _l("That date is out of range; pick one in the coming years.")) from exc


def _as_stored(given: datetime, stored: datetime | None) -> datetime:
    """The stored instant when ``given`` is it as a form shows it (to the minute): sending an
    edit form back unchanged must not move the event by its seconds."""
    if stored is not None and given.second == given.microsecond == 0 and given == stored.replace(second=0, microsecond=0):
        return stored
    return given


def _instant(value: datetime, tz: ZoneInfo, field: str, stored: datetime | None, errors: dict) -> datetime | None:
    """``value`` in UTC, or None with the reason in ``errors``. A changed instant must fall
    between the start grace and the furthest an event may be ahead."""
    try:
        instant = _as_stored(to_utc(value, tz, field), stored)
        if instant != stored:
            now = utcnow()
            if field == "starts_at" and instant < now - START_GRACE:
                raise ValidationFailed.field(field, _l("That start is in the past; pick a time from now on."))
            if instant > now + timedelta(days=366 * FURTHEST_AHEAD_YEARS):
                raise ValidationFailed.field(field, _l("Events can be planned up to %(count)s years ahead.", count=FURTHEST_AHEAD_YEARS))
    except ValidationFailed as exc:
        errors.update(exc.fields)
        return None
    return instant


def clean_event_fields(fields: EventFields, stored: Event | None = None) -> dict:
    """Validate and normalize; raises ValidationFailed naming every bad field. ``stored`` is the
    event being edited: its own start may be past (a running event stays editable) until moved."""
    errors: dict[str, list[str]] = {}
    title = (fields.title or "").strip()
    if not title:
        errors["title"] = [_l("A title is required.")]
    elif len(title) > TITLE_MAX:
        errors["title"] = [_l("Keep the title under %(count)s characters.", count=TITLE_MAX)]
    try:
        tz = zone(fields.timezone)
    except ValidationFailed as exc:
        errors.update(exc.fields)
        tz = ZoneInfo("UTC")
    starts_at = _instant(fields.starts_at, tz, "starts_at", stored.starts_at if stored else None, errors)
    ends_at = (
        _instant(fields.ends_at, tz, "ends_at", stored.ends_at if stored else None, errors) if fields.ends_at else None
    )
    if starts_at is not None and ends_at is not None and ends_at <= starts_at:
        errors["ends_at"] = [_l("The end must be after the start.")]
    # Measured as stored: a form sends each line break as \r\n, a browser counts it as one.
    description = (fields.description or "").replace("\r\n", "\n").strip()
    if len(description) > EVENT_DESCRIPTION_MAX:
        errors["description"] = [_l("Keep the details under %(count)s characters (this is %(length)s).",
                                       count=format_number(EVENT_DESCRIPTION_MAX), length=format_number(len(description)))]
    try:
        visibility = Visibility(fields.visibility)
    except ValueError:
        errors["visibility"] = [_l("Choose public, unlisted or private.")]
        visibility = Visibility.PUBLIC
    online_url = (fields.online_url or "").strip()
    if online_url:
        parts = urlsplit(online_url)
        if parts.scheme not in ("http", "https") or not parts.netloc or len(online_url) > ONLINE_URL_MAX:
            errors["online_url"] = [_l("Give a link starting with https:// or http:// (up to %(count)s characters).",
                                          count=ONLINE_URL_MAX)]
    hours = fields.still_coming_hours
    if isinstance(hours, bool) or not isinstance(hours, int) or not STILL_COMING_HOURS_MIN <= hours <= STILL_COMING_HOURS_MAX:
        errors["still_coming_hours"] = [_l("Ask from %(low)s to %(high)s hours before the start, in whole hours.",
                                           low=STILL_COMING_HOURS_MIN, high=STILL_COMING_HOURS_MAX)]
    language = (fields.language or "").strip() or None
    if language and not (LANGUAGE_TAG.fullmatch(language) and len(language) <= LANGUAGE_TAG_MAX):
        errors["language"] = [_l("Give a language tag such as en, de or pt-BR, or leave it empty.")]
    if errors:
        raise ValidationFailed(_l("Some fields need attention."), errors)
    return dict(
        language=language,
        still_coming_check=bool(fields.still_coming_check),
        still_coming_hours=hours,
        online_url=online_url,
        show_follower_count=bool(fields.show_follower_count),
        title=title,
        description=description,
        location=(fields.location or "").strip()[:LOCATION_MAX],
        starts_at=starts_at,
        ends_at=ends_at,
        timezone=fields.timezone,
        visibility=visibility,
    )


def check_event_fields(fields: EventFields, stored: Event | None = None) -> None:
    """Validate without saving, for forms that check fields as the organizer fills them in
    (``stored``: the event being edited)."""
    clean_event_fields(fields, stored)


def community_to_host(organizer: User, community_id: int | None) -> Community:
    """Where a new event or series of ``organizer`` goes: the community given (which they must
    host), else their personal one."""
    if community_id is None:
        return communities.personal_community(organizer)
    community = db.session.get(Community, community_id)
    if community is None or communities.role_in(organizer, community.id) is None:
        raise NotFound(_l("No such community."))
    return permitted(organizer, Action.CREATE_EVENT, community, "community")


PublishedKind = TypeVar("PublishedKind", bound=Published)


def publish(kind: type[PublishedKind], organizer: User, community_id: int | None, cleaned: dict) -> PublishedKind:
    """A new event or series of ``organizer``'s with its ``cleaned`` fields, in the community that
    hosts it, under a new slug; flushed, so it has its id."""
    community = community_to_host(organizer, community_id)
    published = kind(organizer_id=organizer.id, community_id=community.id, slug=new_slug(cleaned["title"]), **cleaned)
    db.session.add(published)
    db.session.flush()
    return published


def create_event(organizer: User, fields: EventFields, community_id: int | None = None) -> Event:
    event = publish(Event, organizer, community_id, clean_event_fields(fields))
    outbox.event_created(event)
    community_follows.event_created(event)
    db.session.commit()
    current_app.logger.info("event created", extra={"event_id": event.id})
    return event


@rerun_if_changed_meanwhile
def update_event(actor: User, event_id: int, changes: dict, expected_version: int | None = None) -> Event:
    """Apply ``changes`` (a subset of EventFields) and tell the workflow the new version. With
    ``expected_version`` (If-Match, the edit form's), an event at another version is refused
    (VersionMismatch); without it the change applies to whatever is stored."""
    event = get_event_for_organizer(actor, event_id)
    check_version(event, expected_version)
    if event.status != EventStatus.SCHEDULED:
        raise Conflict(_l("Only scheduled events can be edited."), {"status": [event.status.value]})
    current = {name: getattr(event, name) for name in EDITABLE_FIELDS}
    current["visibility"] = event.visibility.value
    unknown = set(changes) - set(EDITABLE_FIELDS)
    if unknown:
        raise ValidationFailed(_l("Unknown fields."), {name: ["Not an editable field."] for name in unknown})
    merged = EventFields(**{**current, **changes})
    cleaned = clean_event_fields(merged, event)
    if all(getattr(event, k) == v for k, v in cleaned.items()):
        return event
    if event.series_id is not None:
        # "This occurrence": from now on it differs from its series (its own RECURRENCE-ID entry).
        event.occurrence_overridden = True
    notification = apply_event_changes(actor, event, cleaned)
    tell_updated(event, notification)
    db.session.commit()
    return event


def apply_event_changes(actor: User | None, event: Event, cleaned: dict):
    """Set ``cleaned`` fields on ``event``, bump its version and record the notice to its
    followers (None when nothing worth a message changed), in the caller's transaction;
    ``tell_updated`` then hands it to the event's workflow."""
    before = {name: getattr(event, name) for name in EDITABLE_FIELDS}
    for name, value in cleaned.items():
        setattr(event, name, value)
    event.version += 1
    summary = describe_change(before, event)
    return (
        record(event, NotificationKind.UPDATE, updated_title(event.title), summary, author=actor, change_from=before)
        if summary else None
    )


def tell_updated(event: Event, notification) -> None:
    """Tell the event's workflow and the organizer's endpoints of the change, through the
    outbox, in the caller's transaction."""
    outbox.event_changed(event, notification)
    webhook_endpoints.event_changed("event.updated", event)


def clean_cancel_reason(reason: str | None) -> str:
    """The organizer's words when cancelling an event or a series, trimmed; too long is refused."""
    reason = (reason or "").strip()
    if len(reason) > CANCEL_REASON_MAX:
        raise ValidationFailed.field("reason", _l("Keep the reason under %(count)s characters.", count=CANCEL_REASON_MAX))
    return reason


@rerun_if_changed_meanwhile
def cancel_event(actor: User, event_id: int, reason: str = "") -> Event:
    """Cancel the event and tell its followers, with the organizer's ``reason`` if given. The
    reason travels in the notification's text, so the workflow sends it like any message.
    Cancelling a cancelled event answers it as it is (also when another request cancelled it
    a moment before: the reason is that request's) and sends nothing."""
    event = get_event_for_organizer(actor, event_id)
    reason = clean_cancel_reason(reason)
    if event.status == EventStatus.CANCELLED:
        return event
    if event.status == EventStatus.COMPLETED:
        raise Conflict(_l("This event is already over."), {"status": ["completed"]})
    notification = mark_cancelled(event, actor, reason=reason)
    tell_cancelled(event, notification)
    db.session.commit()
    return event


def mark_cancelled(event: Event, actor: User | None, body: str = CANCELLED_BODY, reason: str = ""):
    """Cancel a scheduled event and record the notice to its followers, in the caller's
    transaction; ``tell_cancelled`` then hands it to the event's workflow."""
    event.status = EventStatus.CANCELLED
    event.cancel_reason = reason or None
    event.version += 1
    return record(event, NotificationKind.CANCEL, cancelled_title(event.title), cancel_body(body, reason), author=actor)


def tell_cancelled(event: Event, notification) -> None:
    """As ``tell_updated``, for a cancellation."""
    outbox.event_changed(event, notification, cancelled=True)
    webhook_endpoints.event_changed("event.cancelled", event)


def can_view(viewer: User | None, row, has_link: bool = False) -> bool:
    """Whether ``viewer`` may see an event or a series (``row``). Public: anyone. Private: the
    members of its community. Unlisted: those members and whoever ``has_link`` (its slug): ids
    are counted, so an id alone never shows an unlisted one."""
    if row.visibility == Visibility.PUBLIC:
        return True
    if communities.may(viewer, Action.VIEW_PRIVATE, row):
        return True
    return row.visibility == Visibility.UNLISTED and has_link


def _has_followed(viewer: User | None, row) -> bool:
    """Whether ``viewer`` follows (or once followed) the event or series ``row``: they came
    through its link, and their mails, lists and chat buttons name it by id from then on."""
    if viewer is None or not viewer.is_authenticated:
        return False
    if isinstance(row, Series):
        query = select(SeriesFollow.id).where(SeriesFollow.series_id == row.id, SeriesFollow.user_id == viewer.id)
    else:
        query = select(Subscription.id).where(Subscription.event_id == row.id, Subscription.user_id == viewer.id)
    return db.session.scalar(query.limit(1)) is not None


# What a refusal says of an event, a series or a community (``noun``), whole sentences for each.
NO_SUCH = {"event": _l("No such event."), "series": _l("No such series."), "community": _l("No such community.")}
NOT_THEIRS = {"event": _l("Only the event's organizer can change it."),
              "series": _l("Only the series's organizer can change it."),
              "community": _l("Only the community's organizer can change it.")}


def visible_or_missing(model, noun: str, viewer: User | None, row_id: int | None = None, slug: str | None = None,
                       has_link: bool = False):
    """The event (or series: ``model``) by id or slug if ``viewer`` may see it; private ones of
    others, and unlisted ones asked for by id by someone who never followed them (nor has the
    link otherwise: ``has_link``), look like missing ones."""
    if row_id is not None:
        row = db.session.get(model, row_id)
        has_link = has_link or (row is not None and row.visibility == Visibility.UNLISTED and _has_followed(viewer, row))
    else:
        row = db.session.scalar(select(model).where(model.slug == slug))
        has_link = True
    if row is None or not can_view(viewer, row, has_link):
        raise NotFound(NO_SUCH[noun])
    return row


def permitted(actor: User, action: Action, row, noun: str):
    """``row`` (an event, a series or a community) if ``actor``'s role in its community allows
    ``action``; Forbidden saying why otherwise."""
    if communities.may(actor, action, row):
        return row
    role = communities.role_for(actor, row)
    if role is None:
        raise Forbidden(NOT_THEIRS[noun])
    raise Forbidden(_l("As %(role)s of this community you can't %(action)s.", role=role.value, action=action.value),
                    {"role": [role.value]})


def organized_by(actor: User, row, noun: str, action: Action = Action.EDIT_EVENT):
    """``row`` (an event or a series) if ``actor`` may do ``action`` to it (edit, by default)."""
    return permitted(actor, action, row, noun)


def get_visible_event(viewer: User | None, event_id: int | None = None, slug: str | None = None,
                      has_link: bool = False) -> Event:
    return visible_or_missing(Event, "event", viewer, event_id, slug, has_link)


def get_event_for_organizer(actor: User, event_id: int, action: Action = Action.EDIT_EVENT) -> Event:
    """The event if ``actor``'s role in its community allows ``action`` (editing, by default)."""
    return organized_by(actor, get_visible_event(actor, event_id=event_id), "event", action)


def list_upcoming_public_events(limit: int = 50, community_id: int | None = None) -> list[Event]:
    """Public events still to come, soonest first (one community's, given ``community_id``)."""
    query = select(Event).where(
        Event.visibility == Visibility.PUBLIC,
        Event.status == EventStatus.SCHEDULED,
        Event.starts_at >= utcnow(),
    )
    if community_id is not None:
        query = query.where(Event.community_id == community_id)
    return list(db.session.scalars(query.order_by(Event.starts_at).limit(limit)))


def run_by(member: User, model=Event):
    """A condition on Event (or Series: ``model``) rows: those of the communities ``member``
    belongs to, in any role, and those made outside any community by them."""
    theirs = select(CommunityMember.community_id).where(CommunityMember.user_id == member.id)
    return model.community_id.in_(theirs) | (model.community_id.is_(None) & (model.organizer_id == member.id))


def list_organized_events(organizer: User) -> list[Event]:
    """The events of every community ``organizer`` is a member of, latest start first."""
    return list(db.session.scalars(select(Event).where(run_by(organizer)).order_by(Event.starts_at.desc())))


def public_page_state(event_id: int) -> tuple | None:
    """What an anonymous view of the event's page shows that may change in another process, in
    one query: the event's version and last change, its cover, the answers (how many, the
    newest, how many going) and the followers' count. The kept page (web/anonymous_page.py) is rendered again
    only when this differs, rather than every few seconds. None when the event is gone."""
    def scalar(query):
        return query.scalar_subquery()

    return db.session.execute(select(
        Event.version, Event.updated_at,
        scalar(select(EventCover.updated_at).where(EventCover.event_id == event_id)),
        scalar(select(func.count()).select_from(Rsvp).where(Rsvp.event_id == event_id)),
        scalar(select(func.max(Rsvp.answered_at)).where(Rsvp.event_id == event_id)),
        scalar(select(func.count()).select_from(Rsvp).where(Rsvp.event_id == event_id, Rsvp.answer == RsvpAnswer.GOING)),
        scalar(select(func.count()).select_from(Subscription).where(
            Subscription.event_id == event_id, Subscription.status == SubscriptionStatus.ACTIVE)),
    ).where(Event.id == event_id)).one_or_none()
