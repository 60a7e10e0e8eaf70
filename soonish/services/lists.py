"""The API's lists, a page at a time (see pagination): events, series and their occurrences,
subscriptions, channels, chat accounts and an event's notifications, with the filters their readers need."""
from dataclasses import dataclass
from datetime import datetime, timezone

from sqlalchemy import or_, select
from sqlalchemy.orm import selectinload

from soonish.models import (
    ApiKey, ChatIdentity, Event, EventStatus, Integration, Notification, Series, SeriesStatus, Subscription, SubscriptionSelector,
    NOT_FOLLOWING, User, Visibility, utcnow,
)
from soonish.services.chat import linked_identities_query
from soonish.domain.communities import Action
from soonish.services.events import get_event_for_organizer, run_by, to_utc
from soonish.services.notifications import _reports_for
from soonish.services.pagination import Page, keyset_page
from soonish.services.series import occurrences_query


@dataclass(frozen=True)
class EventFilters:
    status: str | None = None
    visibility: str | None = None
    starts_after: datetime | None = None
    starts_before: datetime | None = None
    q: str | None = None


def _filtered(query, filters: EventFilters):
    if filters.status:
        query = query.where(Event.status == EventStatus(filters.status))
    if filters.visibility:
        query = query.where(Event.visibility == Visibility(filters.visibility))
    if filters.starts_after:
        query = query.where(Event.starts_at >= to_utc(filters.starts_after, timezone.utc, "starts_after"))
    if filters.starts_before:
        query = query.where(Event.starts_at < to_utc(filters.starts_before, timezone.utc, "starts_before"))
    if filters.q and filters.q.strip():
        escaped = filters.q.strip().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        pattern = f"%{escaped}%"
        query = query.where(or_(Event.title.ilike(pattern, escape="\\"), Event.location.ilike(pattern, escape="\\")))
    return query


def public_events(filters: EventFilters, limit: int, cursor: str | None) -> Page:
    """Upcoming public events, soonest first."""
    query = select(Event).where(
        Event.visibility == Visibility.PUBLIC, Event.status == EventStatus.SCHEDULED, Event.starts_at >= utcnow()
    )
    return keyset_page(_filtered(query, filters), Event.starts_at, Event.id, limit, cursor)


def organized_events(organizer: User, filters: EventFilters, limit: int, cursor: str | None) -> Page:
    """The events ``organizer`` organizes, any status, by start time."""
    query = select(Event).where(run_by(organizer))
    return keyset_page(_filtered(query, filters), Event.starts_at, Event.id, limit, cursor)


def my_subscriptions(user: User, limit: int, cursor: str | None) -> Page:
    query = select(Subscription).where(
        Subscription.user_id == user.id, Subscription.status.not_in(NOT_FOLLOWING)
    ).options(selectinload(Subscription.selectors).selectinload(SubscriptionSelector.integration))
    return keyset_page(query, Subscription.id, Subscription.id, limit, cursor)


def my_integrations(user: User, limit: int, cursor: str | None) -> Page:
    query = select(Integration).where(Integration.user_id == user.id)
    return keyset_page(query, Integration.id, Integration.id, limit, cursor)


def notification_reports(actor: User, event_id: int, kind: str | None, limit: int, cursor: str | None) -> Page:
    """The event's notifications, newest first, each with its deliveries by status."""
    get_event_for_organizer(actor, event_id, Action.SEE_DELIVERIES)
    query = select(Notification).where(Notification.event_id == event_id)
    if kind:
        query = query.where(Notification.kind == kind)
    page = keyset_page(query, Notification.id, Notification.id, limit, cursor, descending=True)
    return Page(_reports_for(page.items), page.next_cursor)


def my_api_keys(user: User, limit: int, cursor: str | None) -> Page:
    query = select(ApiKey).where(ApiKey.user_id == user.id, ApiKey.revoked_at.is_(None))
    return keyset_page(query, ApiKey.id, ApiKey.id, limit, cursor)


def public_series(limit: int, cursor: str | None) -> Page:
    """Active public series, newest first."""
    query = select(Series).where(Series.visibility == Visibility.PUBLIC, Series.status == SeriesStatus.ACTIVE)
    return keyset_page(query, Series.created_at, Series.id, limit, cursor, descending=True)


def series_occurrences(series: Series, limit: int, cursor: str | None) -> Page:
    """The occurrences of ``series`` made so far that are still ahead, soonest first."""
    return keyset_page(occurrences_query(series), Event.starts_at, Event.id, limit, cursor)


def my_chat_accounts(user: User, limit: int, cursor: str | None) -> Page:
    """The chat accounts that act as ``user``, oldest first."""
    return keyset_page(linked_identities_query(user), ChatIdentity.id, ChatIdentity.id, limit, cursor)
