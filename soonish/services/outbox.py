"""What a follow leaves for the worker (models/outbox.py), added to the caller's transaction.

The web tier never waits on Temporal or the mail server to answer a follow: it commits the
subscription with these rows, and the worker's drain (soonish/temporal/outbox.py, a thin
adapter over soonish/delivery/outbox.py) does the rest within a second or so.
"""
from datetime import timedelta

from flask import current_app
from sqlalchemy import insert, select

from soonish.delivery.outbox import reminders_changed  # noqa: F401 (left through here by the services)
from soonish.models import Event, Notification, OutboxItem, OutboxKind, Subscription, db, utcnow


def confirm_mail(subscription: Subscription) -> bool:
    """Leave a confirm mail for ``subscription`` unless one was left for it within the repeat
    window (someone pressing Follow twice, or a form resubmitted, gets one mail). Returns whether
    a mail was left."""
    window = timedelta(seconds=int(current_app.config["CONFIRM_MAIL_REPEAT_WINDOW"]))
    if subscription.id is not None:
        recent = db.session.scalar(
            select(OutboxItem.id).where(
                OutboxItem.kind == OutboxKind.CONFIRM_MAIL,
                OutboxItem.subject_id == subscription.id,
                OutboxItem.created_at > utcnow() - window,
            ).limit(1)
        )
        if recent is not None:
            return False
    else:
        db.session.flush()
    # A plain INSERT rather than one more object for the commit to flush: a follow is the web
    # tier's hottest write, and a second unit-of-work flush cost it about a tenth of its time.
    db.session.execute(insert(OutboxItem.__table__).values(
        kind=OutboxKind.CONFIRM_MAIL, event_id=subscription.event_id, subject_id=subscription.id))
    return True


def resume(event: Event, notification: Notification) -> None:
    """Hand a paused broadcast its organizer resumed back to the event's workflow after commit."""
    db.session.add(OutboxItem(kind=OutboxKind.RESUME, event_id=event.id, subject_id=notification.id))


def notify(event: Event, notification: Notification) -> None:
    """Hand ``notification`` (recorded in this transaction) to the event's workflow after commit."""
    db.session.add(OutboxItem(kind=OutboxKind.NOTIFY, event_id=event.id, subject_id=notification.id))
