"""Recording notifications and handing them to the event's workflow.

Used by the event, notification and subscription services alike; imports none of them.
"""
from soonish.field_limits import TITLE_MAX
from soonish.domain.messages import change_snapshot
from soonish.models import Event, Notification, NotificationKind, Subscription, User, db
from soonish.services.temporal import tell_event_workflow


def record(event: Event, kind: NotificationKind, title: str, body: str = "", author: User | None = None,
           subscription: Subscription | None = None, change_from: dict | None = None) -> Notification:
    """Add a notification to the session (the caller commits, then dispatches)."""
    notification = Notification(
        event_id=event.id, kind=kind, title=title[:TITLE_MAX], body=body,
        author_id=author.id if author else None,
        subscription_id=subscription.id if subscription else None,
        change_from=change_snapshot(change_from) if change_from is not None else None,
    )
    db.session.add(notification)
    db.session.flush()
    return notification


def dispatch(event: Event, notification: Notification) -> None:
    """Hand a committed notification to the event's workflow."""
    tell_event_workflow(
        event, lambda temporal, params: temporal.notify(params, notification.id), "notification",
        notification_id=notification.id,
    )
