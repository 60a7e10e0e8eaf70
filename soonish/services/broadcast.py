"""Recording notifications and handing them to the event's workflow.

Used by the event, notification and subscription services alike; imports none of them.
"""
from ..field_limits import TITLE_MAX
from ..messages import when_text
from ..models import Event, Notification, NotificationKind, Subscription, User, db
from .temporal import tell_event_workflow


def record(event: Event, kind: NotificationKind, title: str, body: str = "", author: User | None = None,
           subscription: Subscription | None = None) -> Notification:
    """Add a notification to the session (the caller commits, then dispatches)."""
    notification = Notification(
        event_id=event.id, kind=kind, title=title[:TITLE_MAX], body=body,
        author_id=author.id if author else None,
        subscription_id=subscription.id if subscription else None,
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


def describe_change(before: dict, event: Event) -> str | None:
    """A human summary of what subscribers should know changed, or None if nothing they'd care
    about did (a description edit, say)."""
    lines = []
    if before["starts_at"] != event.starts_at or before["ends_at"] != event.ends_at:
        lines.append(f"New time: {when_text(event)} (was {when_text(event, before['starts_at'])}).")
    if before["location"] != event.location:
        lines.append(f"New place: {event.location or 'to be announced'} (was {before['location'] or 'not set'}).")
    if before.get("online_url", event.online_url) != event.online_url:
        lines.append(f"New online link: {event.online_url}." if event.online_url else "It is no longer online.")
    if before["title"] != event.title:
        lines.append(f"New name: {event.title} (was {before['title']}).")
    return "\n".join(lines) or None
