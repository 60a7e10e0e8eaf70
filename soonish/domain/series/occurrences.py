"""Making a recurring series' occurrences: the instances of the coming weeks become real events
(each with its own page, reminders, RSVPs and ledger), with every series follower subscribed.

Domain work in the database alone, shared by the series service (at once, when a series is made
or changed) and the daily `soonish-series` run's activity (soonish/temporal/series/activities.py). A new
occurrence's workflow starts through the follow outbox row committed with it, so a crash between
the two loses nothing; the unique (series, occurrence start) makes each instance once.
"""
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from flask import current_app
from sqlalchemy import select

from soonish.domain.series import recurrence
from soonish.links import new_slug
from soonish.models import (
    ChatIdentity, Event, Integration, Series, SeriesFollow, SeriesStatus, Subscription, SubscriptionSelector,
    SubscriptionStatus, UniqueKeyTaken, db, lock_for_change, utcnow,
)
from soonish.domain.outbox import reminders_changed

# What each occurrence copies from its series as it is.
TEMPLATE_FIELDS = ("title", "description", "location", "online_url", "visibility", "timezone")


def rule_of(series: Series) -> recurrence.Rule:
    return recurrence.parse(series.rrule, ZoneInfo(series.timezone))


def first_local(series: Series) -> datetime:
    """The first instance's naive wall-clock start in the series' zone."""
    return series.starts_at.astimezone(ZoneInfo(series.timezone)).replace(tzinfo=None)


def instance_starts(series: Series, after: datetime | None = None):
    """The series' instance starts (UTC) from ``after`` on, in order; bounded by its end."""
    return rule_of(series).starts(first_local(series), ZoneInfo(series.timezone), after)


def duration_of(series: Series) -> timedelta | None:
    return timedelta(seconds=series.duration_seconds) if series.duration_seconds is not None else None


def lock(series: Series) -> None:
    """Hold the series row until the commit, so making occurrences, (un)following the series and
    splitting it never interleave: each sees the other's committed occurrences or follows, and no
    new occurrence misses a follower or keeps one who left."""
    lock_for_change(series)


def materialize(series: Series, now: datetime, started_since: timedelta = timedelta(0)) -> list[Event]:
    """Make the instances due within the horizon (SERIES_HORIZON_DAYS, at most SERIES_AHEAD_MAX
    upcoming) into events, with every series follower subscribed, in the caller's transaction.
    Instances already made (or cancelled), and those that started more than ``started_since``
    ago, are left alone. Returns the new occurrences."""
    lock(series)
    if series.status != SeriesStatus.ACTIVE:
        return []
    made_starts = set(db.session.scalars(select(Event.occurrence_start).where(Event.series_id == series.id)))
    duration = duration_of(series)
    horizon = now + timedelta(days=int(current_app.config["SERIES_HORIZON_DAYS"]))
    ahead_max = int(current_app.config["SERIES_AHEAD_MAX"])
    made, upcoming = [], 0
    for start in instance_starts(series, after=now - started_since):
        if start > horizon or upcoming >= ahead_max:
            break
        upcoming += 1
        if start in made_starts:
            continue
        event = Event(
            organizer_id=series.organizer_id, community_id=series.community_id, slug=new_slug(series.title), starts_at=start,
            ends_at=start + duration if duration is not None else None, series_id=series.id, occurrence_start=start,
            **{name: getattr(series, name) for name in TEMPLATE_FIELDS},
        )
        db.session.add(event)
        made.append(event)
        series.materialized_until = max(series.materialized_until or start, start)
    if not made:
        return []
    db.session.flush()
    follows = list(db.session.scalars(select(SeriesFollow).where(SeriesFollow.series_id == series.id)))
    for event in made:
        for follow in follows:
            copy_follow(follow, event)
        # Starts the occurrence's workflow (signal-with-start), which syncs its reminders.
        reminders_changed(event)
    return made


def materialize_series(series_id: int, now: datetime | None = None) -> int:
    """Materialize one series and commit; returns how many occurrences were made. Two
    materializations at once (the daily run and an edit) make each instance once: the loser of
    the unique (series, occurrence start) race starts over and finds it made."""
    for attempt in range(2):
        series = db.session.get(Series, series_id)
        if series is None:
            return 0
        try:
            made = materialize(series, now or utcnow())
            db.session.commit()
            return len(made)
        except UniqueKeyTaken:
            db.session.rollback()
            if attempt:
                raise
    return 0


def active_series_ids(after: int = 0) -> list[int]:
    """The ids of active series above ``after``, in order (the daily run's cursor)."""
    return list(db.session.scalars(
        select(Series.id).where(Series.status == SeriesStatus.ACTIVE, Series.id > after).order_by(Series.id)
    ))


def copy_follow(follow: SeriesFollow, event: Event) -> bool:
    """Subscribe the follower to ``event`` with the follow's choices, unless they already
    follow it (their own choices stay). Returns whether a subscription became active."""
    subscription = db.session.scalar(
        select(Subscription).where(Subscription.event_id == event.id, Subscription.user_id == follow.user_id)
    )
    if subscription is not None and subscription.status == SubscriptionStatus.ACTIVE:
        return False
    if subscription is None:
        subscription = Subscription(event_id=event.id, user_id=follow.user_id)
        db.session.add(subscription)
    subscription.reminder_offsets = list(follow.reminder_offsets)
    subscription.selectors = _selectors_still_there(follow)
    subscription.status = SubscriptionStatus.ACTIVE
    subscription.confirmed_at = subscription.confirmed_at or utcnow()
    return True


def _selectors_still_there(follow: SeriesFollow) -> list[SubscriptionSelector]:
    """The follow's selectors (checked as the follower's own when they followed) whose channel
    or chat account still exists: one removed since is dropped, the rest still route."""
    wanted = follow.selectors or []
    integration_ids = {item["integration_id"] for item in wanted if item.get("integration_id") is not None}
    identity_ids = {item["chat_identity_id"] for item in wanted if item.get("chat_identity_id") is not None}
    there_integrations = set(db.session.scalars(select(Integration.id).where(
        Integration.id.in_(integration_ids), Integration.user_id == follow.user_id))) if integration_ids else set()
    there_identities = set(db.session.scalars(select(ChatIdentity.id).where(
        ChatIdentity.id.in_(identity_ids), ChatIdentity.user_id == follow.user_id))) if identity_ids else set()
    return [
        SubscriptionSelector(integration_id=item.get("integration_id"), tag=item.get("tag"),
                             chat_identity_id=item.get("chat_identity_id"))
        for item in wanted
        if item.get("tag") is not None or item.get("integration_id") in there_integrations
        or item.get("chat_identity_id") in there_identities
    ]
