"""Notifications: what organizers announce and what changes tell subscribers, and how each
one's deliveries went."""
from dataclasses import dataclass, field

from sqlalchemy import func, select

from ..models import (
    Delivery, DeliveryStatus, EventStatus, Notification, NotificationKind, Subscription, User, db,
)
from .broadcast import TITLE_MAX, dispatch, record
from .errors import ValidationFailed
from .events import get_event_for_organizer
from .offsets import format_offset

BODY_MAX = 5000


def announce(actor: User, event_id: int, title: str, body: str) -> Notification:
    event = get_event_for_organizer(actor, event_id)
    if event.status == EventStatus.CANCELLED:
        raise ValidationFailed("This event is cancelled.", {"event": ["cancelled"]})
    title, body = (title or "").strip(), (body or "").strip()
    errors = {}
    if not title or len(title) > TITLE_MAX:
        errors["title"] = [f"Give the announcement a title (up to {TITLE_MAX} characters)."]
    if len(body) > BODY_MAX:
        errors["body"] = [f"Keep it under {BODY_MAX} characters."]
    if errors:
        raise ValidationFailed("Some fields need attention.", errors)
    notification = record(event, NotificationKind.ANNOUNCEMENT, title, body, author=actor)
    db.session.commit()
    dispatch(event, notification)
    return notification


def welcome(subscription: Subscription) -> None:
    """Greet a subscription that just became active (the caller has committed it)."""
    event = subscription.event
    offsets = ", ".join(format_offset(o) for o in subscription.reminder_offsets) or "none"
    notification = record(
        event, NotificationKind.WELCOME, f"You're following {event.title}",
        f"You'll get the organizer's updates here, and reminders before it starts ({offsets}).",
        subscription=subscription,
    )
    db.session.commit()
    dispatch(event, notification)


@dataclass
class NotificationReport:
    notification: Notification
    counts: dict[str, int]
    failures: list[tuple[str, int]] = field(default_factory=list)

    @property
    def total(self) -> int:
        return sum(self.counts.values())


def delivery_reports(actor: User, event_id: int, limit: int = 50) -> list[NotificationReport]:
    """Per notification, newest first: deliveries by status and the failures' reasons."""
    get_event_for_organizer(actor, event_id)
    notifications = list(
        db.session.scalars(
            select(Notification).where(Notification.event_id == event_id)
            .order_by(Notification.created_at.desc(), Notification.id.desc()).limit(limit)
        )
    )
    ids = [n.id for n in notifications]
    counts: dict[int, dict[str, int]] = {i: {s.value: 0 for s in DeliveryStatus} for i in ids}
    failures: dict[int, list[tuple[str, int]]] = {i: [] for i in ids}
    if ids:
        for notification_id, status, count in db.session.execute(
            select(Delivery.notification_id, Delivery.status, func.count())
            .where(Delivery.notification_id.in_(ids)).group_by(Delivery.notification_id, Delivery.status)
        ):
            counts[notification_id][status.value] = count
        for notification_id, reason, count in db.session.execute(
            select(Delivery.notification_id, Delivery.last_error, func.count())
            .where(Delivery.notification_id.in_(ids), Delivery.status == DeliveryStatus.FAILED)
            .group_by(Delivery.notification_id, Delivery.last_error)
            .order_by(func.count().desc())
        ):
            failures[notification_id].append((reason or "unknown", count))
    return [NotificationReport(n, counts[n.id], failures[n.id]) for n in notifications]
