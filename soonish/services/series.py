"""Recurring series: create, edit ("this occurrence" is the event service's update; "this and
following" is here), cancel; follow every occurrence.

Each occurrence is an ordinary event (its own page, reminders, RSVPs, ledger), made ahead on a
rolling horizon by soonish/domain/series/occurrences.py: at once when a series is made or changed
(here), and daily by the `soonish-series` schedule (soonish/temporal/series/activities.py).
"""
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from flask import current_app
from sqlalchemy import select

from soonish.domain.series import recurrence
from soonish.domain.series.occurrences import (
    TEMPLATE_FIELDS, copy_follow, duration_of, first_local, instance_starts, lock, materialize, rule_of,
)
from soonish.domain.messages import N_
from soonish.domain.delivery.mail import OneOffKind
from soonish.links import LinkInvalid, LinkPurpose, new_slug, unsign
from soonish.models import (
    DEFAULT_REMINDER_OFFSETS, Event, EventStatus, Series, SeriesFollow, SeriesStatus, Subscription,
    SubscriptionStatus, User, db, utcnow,
)
from soonish.domain import community_follows, outbox
from soonish.services.concurrency import rerun_if_changed_meanwhile
from soonish.services.accounts import find_user_by_email, normalize_email
from soonish.services.errors import Conflict, Gone, NotFound, ValidationFailed
from soonish.services.events import (
    START_GRACE, EventFields, SharedEventFields, apply_event_changes, clean_cancel_reason, clean_event_fields,
    get_event_for_organizer, mark_cancelled, organized_by, publish, shared_values, tell_cancelled, tell_updated,
    visible_or_missing,
)
from soonish.services.offsets import validate_offsets
from soonish.services.subscriptions import _selectors as validated_selectors
from soonish.i18n import _l, supported

# The fields an edit of a series (or of "this and following") may change.
EDITABLE = ("title", "description", "location", "online_url", "visibility", "starts_at", "ends_at", "rrule")
NO_LONGER_BODY = N_("This date is no longer part of the series; the organizer changed its schedule.")


@dataclass(kw_only=True)
class SeriesFields(SharedEventFields):
    """A new series as a form or the API gives it: the first occurrence's fields and the rule
    (RRULE text)."""

    rrule: str


def _cleaned(fields: SeriesFields, stored_start: datetime | None = None) -> dict:
    """The series' columns from ``fields``, or a ValidationFailed naming every bad field (the
    rule's problems under ``rrule``). The start moves to the rule's first instance."""
    errors: dict[str, list[str]] = {}
    event_fields = EventFields(**shared_values(fields))
    try:
        # The same rules as one event's fields; a start already stored may be sent back as is.
        cleaned = clean_event_fields(event_fields, _StoredStart(stored_start) if stored_start else None)
    except ValidationFailed as exc:
        errors.update(exc.fields)
        cleaned = None
    zone = ZoneInfo(fields.timezone) if cleaned else None
    rule = first = None
    if cleaned:
        try:
            rule = recurrence.parse(fields.rrule, zone)
            first = recurrence.first_instance(rule, cleaned["starts_at"].astimezone(zone).replace(tzinfo=None))
        except recurrence.RuleError as exc:
            errors["rrule"] = [str(exc)]
    if errors:
        raise ValidationFailed(_l("Some fields need attention."), errors)
    starts_at = first.replace(tzinfo=zone).astimezone(timezone.utc)
    duration = cleaned["ends_at"] - cleaned["starts_at"] if cleaned["ends_at"] else None
    return dict(
        title=cleaned["title"], description=cleaned["description"], location=cleaned["location"],
        online_url=cleaned["online_url"], visibility=cleaned["visibility"], timezone=cleaned["timezone"],
        starts_at=starts_at, duration_seconds=int(duration.total_seconds()) if duration else None, rrule=rule.text(),
    )


@dataclass
class _StoredStart:
    """What clean_event_fields compares a start against: a series' stored first start (so an
    edit that keeps it is not refused as past)."""

    starts_at: datetime
    ends_at: datetime | None = None


def check_series_fields(fields: SeriesFields) -> None:
    """Validate without saving (forms checking as the organizer types)."""
    _cleaned(fields)


def create_series(organizer: User, fields: SeriesFields, community_id: int | None = None) -> Series:
    series = publish(Series, organizer, community_id, _cleaned(fields))
    community_follows.series_created(series)
    now = utcnow()
    ahead = [event for event in materialize(series, now, START_GRACE) if event.starts_at > now]
    if ahead:  # the community's followers hear of a new series once, by its next occurrence
        community_follows.event_created(ahead[0])
    db.session.commit()
    return series


# Reading --------------------------------------------------------------------------------------


def get_visible_series(viewer: User | None, series_id: int | None = None, slug: str | None = None) -> Series:
    return visible_or_missing(Series, "series", viewer, series_id, slug)


def get_series_for_organizer(actor: User, series_id: int) -> Series:
    return organized_by(actor, get_visible_series(actor, series_id=series_id), "series")


def series_of(event: Event) -> Series | None:
    return db.session.get(Series, event.series_id) if event.series_id is not None else None


def describe(series: Series) -> str:
    """"every Tuesday at 19:00" (in the series' zone)."""
    return rule_of(series).describe(first_local(series).time())


def occurrences_query(series: Series, upcoming: bool = True):
    """The series' occurrences made so far (upcoming ones only, by default), unordered."""
    query = select(Event).where(Event.series_id == series.id)
    if upcoming:
        query = query.where(Event.starts_at >= utcnow() - START_GRACE)
    return query


def occurrences(series: Series, upcoming: bool = True) -> list[Event]:
    """The series' occurrences made so far (upcoming ones only, by default), soonest first."""
    return list(db.session.scalars(occurrences_query(series, upcoming).order_by(Event.starts_at)))


# Following ------------------------------------------------------------------------------------


def follow_series(user: User, series_id: int | None = None, selectors: list[dict] | None = None,
                  reminder_offsets=None, slug: str | None = None) -> tuple[SeriesFollow, bool]:
    """Follow every occurrence of the series ``series_id`` or ``slug`` names (an unlisted one by
    its slug, the first time): the made ones now, the rest as they are made. Following again
    updates the choices for occurrences made from now on. Returns the follow and whether it is new."""
    series = get_visible_series(user, series_id=series_id, slug=slug)
    lock(series)
    if series.status != SeriesStatus.ACTIVE:
        raise ValidationFailed.field("series", _l("This series is cancelled; it can't be followed."))
    validated_selectors(user, selectors)  # raises naming the bad one
    offsets = validate_offsets(reminder_offsets) if reminder_offsets is not None else list(DEFAULT_REMINDER_OFFSETS)
    follow = db.session.scalar(
        select(SeriesFollow).where(SeriesFollow.series_id == series.id, SeriesFollow.user_id == user.id)
    )
    is_new = follow is None
    if is_new:
        follow = SeriesFollow(series_id=series.id, user_id=user.id)
        db.session.add(follow)
    follow.user = user
    if selectors is not None or is_new:
        follow.selectors = [dict(item) for item in selectors or []]
    if reminder_offsets is not None or is_new:
        follow.reminder_offsets = offsets
    for event in occurrences(series):
        if event.status == EventStatus.SCHEDULED and copy_follow(follow, event):
            outbox.reminders_changed(event)
    db.session.commit()
    return follow, is_new


def follow_series_by_email(series: Series, email: str, locale: str | None = None) -> None:
    """Follow with an address alone, double opt-in as an event's follow by email: one confirm
    mail, whose signed link carries the series and the address. Nothing is stored (no account,
    no follow) before its owner clicks it; the link then follows as an account would.
    ``locale``: the language the request asked for, which the mail is written in when the
    address has no account (whose language would win)."""
    if series.status != SeriesStatus.ACTIVE:
        raise ValidationFailed.field("series", _l("This series is cancelled; it can't be followed."))
    asked = supported(locale)
    outbox.one_off_mail(OneOffKind.SERIES_FOLLOW, series.id, normalize_email(email),
                        **({"locale": asked} if asked else {}))
    db.session.commit()


def confirm_series_follow(token: str) -> Series:
    """Follow the series a confirm link names, as its address (made an account of that address
    if none is, verified: the link proved it). Confirming twice is harmless."""
    try:
        series_id, address = unsign(current_app.config["SECRET_KEY"], LinkPurpose.CONFIRM_SERIES_FOLLOW, token,
                                    current_app.config["CONFIRM_LINK_MAX_AGE"])
    except LinkInvalid as exc:
        if exc.expired:
            raise Gone(_l("Confirm links only work for a while. Follow the series again and we'll send you a fresh one.")) from exc
        raise NotFound(_l("This link is not valid.")) from exc
    series = db.session.get(Series, series_id)
    if series is None:
        raise NotFound(_l("This series no longer exists."))
    user = find_user_by_email(address) or User(email=address)
    user.is_verified = True
    db.session.add(user)
    db.session.flush()
    # By its slug, as its page: the link was mailed from the page, an unlisted one's too.
    follow_series(user, slug=series.slug)
    return series


def find_follow(user: User, series: Series) -> SeriesFollow | None:
    return db.session.scalar(
        select(SeriesFollow).where(SeriesFollow.series_id == series.id, SeriesFollow.user_id == user.id)
    )


def unfollow_series(user: User, series_id: int | None = None, slug: str | None = None) -> None:
    """Stop following: no subscriptions to occurrences made from now on, and the ones to
    upcoming occurrences end (their reminder schedules go with them)."""
    series = get_visible_series(user, series_id=series_id, slug=slug)
    lock(series)
    follow = find_follow(user, series)
    if follow is None:
        raise NotFound(_l("You don't follow this series."))
    _end_follow(follow, series, user)


def series_to_leave(token: str) -> tuple[Series, User]:
    """The series and the person a "leave the whole series" link in an occurrence's mail names
    (these links don't expire, as the mails' unsubscribe links)."""
    try:
        series_id, user_id = unsign(current_app.config["SECRET_KEY"], LinkPurpose.LEAVE_SERIES, token)
    except (LinkInvalid, TypeError, ValueError) as exc:
        raise NotFound(_l("This link is not valid.")) from exc
    series, user = db.session.get(Series, series_id), db.session.get(User, user_id)
    if series is None or user is None:
        raise NotFound(_l("This series no longer exists."))
    return series, user


def leave_series_by_token(token: str) -> Series:
    """Stop following the series a mail's link names, as ``unfollow_series``, with the link
    standing in for a sign-in. Leaving twice is harmless."""
    series, user = series_to_leave(token)
    lock(series)
    follow = find_follow(user, series)
    if follow is not None:
        _end_follow(follow, series, user)
    return series


def _end_follow(follow: SeriesFollow, series: Series, user: User) -> None:
    db.session.delete(follow)
    upcoming = [event for event in occurrences(series) if event.status == EventStatus.SCHEDULED]
    subscriptions = db.session.scalars(select(Subscription).where(
        Subscription.user_id == user.id, Subscription.status == SubscriptionStatus.ACTIVE,
        Subscription.event_id.in_([event.id for event in upcoming]),
    ))
    by_event = {event.id: event for event in upcoming}
    for subscription in subscriptions:
        subscription.status = SubscriptionStatus.UNSUBSCRIBED
        outbox.reminders_changed(by_event[subscription.event_id])
    db.session.commit()


# Changing -------------------------------------------------------------------------------------


def update_series(actor: User, series_id: int, changes: dict) -> Series:
    """Change the whole series from its next occurrence on (past ones stay as they were)."""
    series = get_series_for_organizer(actor, series_id)
    upcoming = [event for event in occurrences(series) if event.status == EventStatus.SCHEDULED]
    if not upcoming:
        _require_active(series)
        fields = _merged(series, series.starts_at, changes)
        for name, value in _cleaned(fields, series.starts_at).items():
            setattr(series, name, value)
        materialize(series, utcnow(), START_GRACE)
        db.session.commit()
        return series
    return edit_following(actor, upcoming[0].id, changes)


def _require_active(series: Series) -> None:
    if series.status != SeriesStatus.ACTIVE:
        raise Conflict(_l("Only active series can be edited."), {"status": [series.status.value]})


def _merged(series: Series, start: datetime, changes: dict) -> SeriesFields:
    unknown = set(changes) - set(EDITABLE)
    if unknown:
        raise ValidationFailed(_l("Unknown fields."), {name: ["Not an editable field."] for name in sorted(unknown)})
    duration = duration_of(series)
    current = dict(
        title=series.title, description=series.description, location=series.location, online_url=series.online_url,
        visibility=series.visibility.value, timezone=series.timezone, starts_at=start,
        ends_at=start + duration if duration is not None else None, rrule=series.rrule,
    )
    if "starts_at" in changes and "ends_at" not in changes and duration is not None:
        # Moving the start keeps the length.
        moved = changes["starts_at"]
        current["ends_at"] = moved + duration
    return SeriesFields(**{**current, **changes})


@rerun_if_changed_meanwhile
def edit_following(actor: User, event_id: int, changes: dict, series_id: int | None = None) -> Series:
    """"This and following": from occurrence ``event_id`` on, the series is as ``changes`` say.

    Done as calendars do it: the series ends the day before, and a new series (with the same
    followers) carries on from this occurrence. At the first occurrence the series is changed
    in place. Occurrences already made from there on move to the new series (on the same day,
    at its time of day, with its details; their followers are told, as for any edit); those on
    a day the new rule skips are cancelled (their followers are told). With ``series_id`` (the
    API's path), an occurrence no longer in that series is not found, also when a split moved it
    while this one waited for its turn.
    """
    occurrence = get_event_for_organizer(actor, event_id)
    series = series_of(occurrence)
    if series is None:
        raise ValidationFailed.field("scope", _l("This event is not part of a series."))
    # Of two splits at once the second waits here for the first's commit, then reads what it
    # made: this occurrence may have moved to the new series (which it then changes in place).
    lock(series)
    db.session.refresh(occurrence)
    if series_id is not None and occurrence.series_id != series_id:
        raise NotFound(_l("No such occurrence in this series."))
    series = series_of(occurrence)
    _require_active(series)
    if occurrence.status != EventStatus.SCHEDULED:
        raise Conflict(_l("Only scheduled occurrences can be edited."), {"status": [occurrence.status.value]})
    split_at = occurrence.occurrence_start
    fields = _merged(series, split_at, changes)
    zone = ZoneInfo(series.timezone)
    earlier = [start for start in instance_starts(series) if start < split_at]
    if "rrule" not in changes:
        old_rule = rule_of(series)
        if old_rule.count is not None:
            fields.rrule = replace(old_rule, count=old_rule.count - len(earlier)).text()
    cleaned = _cleaned(fields, split_at)
    moving = [event for event in db.session.scalars(
        select(Event).where(Event.series_id == series.id, Event.occurrence_start >= split_at,
                            Event.status == EventStatus.SCHEDULED).order_by(Event.starts_at)
    )]
    if earlier:
        old_rule = rule_of(series)
        last_day = split_at.astimezone(zone).date() - timedelta(days=1)
        series.rrule = replace(old_rule, count=None, until=last_day).text()
        target = Series(organizer_id=series.organizer_id, community_id=series.community_id, slug=new_slug(cleaned["title"]), **cleaned)
        db.session.add(target)
        db.session.flush()
        for follow in db.session.scalars(select(SeriesFollow).where(SeriesFollow.series_id == series.id)):
            db.session.add(SeriesFollow(series_id=target.id, user_id=follow.user_id, selectors=list(follow.selectors),
                                        reminder_offsets=list(follow.reminder_offsets)))
    else:
        target = series
        for name, value in cleaned.items():
            setattr(series, name, value)
    for tell, event, notification in _move_occurrences(actor, moving, target):
        tell(event, notification)
    materialize(target, utcnow(), START_GRACE)
    db.session.commit()
    return target


def _move_occurrences(actor: User, moving: list[Event], target: Series) -> list:
    """Make ``moving`` occurrences of ``target``: each takes the instance on its own day, or is
    cancelled when the target has none that day. Returns what to tell each workflow (through the outbox)."""
    zone = ZoneInfo(target.timezone)
    if not moving:
        return []
    last = max(event.occurrence_start for event in moving) + timedelta(days=1)
    by_day = {}
    for start in instance_starts(target):
        if start > last:
            break
        by_day[start.astimezone(zone).date()] = start
    duration = duration_of(target)
    told = []
    for event in moving:
        start = by_day.get(event.occurrence_start.astimezone(zone).date())
        if start is None:
            told.append((tell_cancelled, event, mark_cancelled(event, actor, body=NO_LONGER_BODY)))
            continue
        event.series_id, event.occurrence_start, event.occurrence_overridden = target.id, start, False
        changes = {name: getattr(target, name) for name in TEMPLATE_FIELDS}
        changes.update(starts_at=start, ends_at=start + duration if duration is not None else None)
        if any(getattr(event, name) != value for name, value in changes.items()):
            told.append((tell_updated, event, apply_event_changes(actor, event, changes)))
    # Moved rows take their new (series, start) before new occurrences are made beside them.
    db.session.flush()
    return told


@rerun_if_changed_meanwhile
def cancel_series(actor: User, series_id: int, reason: str = "") -> Series:
    """Stop the series: no more occurrences, and every upcoming one is cancelled (each one's
    followers are told, with the reason)."""
    series = get_series_for_organizer(actor, series_id)
    reason = clean_cancel_reason(reason)
    if series.status == SeriesStatus.CANCELLED:
        return series
    series.status = SeriesStatus.CANCELLED
    for event in occurrences(series):
        if event.status == EventStatus.SCHEDULED:
            tell_cancelled(event, mark_cancelled(event, actor, reason=reason))
    db.session.commit()
    return series
