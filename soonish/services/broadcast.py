"""Recording notifications (the outbox hands them to the event's workflow).

Used by the event, notification and subscription services alike; imports none of them.
"""
from soonish.field_limits import TITLE_MAX
from soonish.domain.messages import change_snapshot
from soonish.models import Event, Notification, NotificationKind, Subscription, User, db


def record(event: Event, kind: NotificationKind, title: str, body: str = "", author: User | None = None,
           subscription: Subscription | None = None, change_from: dict | None = None) -> Notification:
    """Add a notification to the session (the caller hands it on with ``outbox.notify``, or
    with the event change it is about, and commits)."""
    notification = Notification(
        event_id=event.id, kind=kind, title=title[:TITLE_MAX], body=body,
        author_id=author.id if author else None,
        subscription_id=subscription.id if subscription else None,
        change_from=change_snapshot(change_from) if change_from is not None else None,
    )
    db.session.add(notification)
    db.session.flush()
    return notification

