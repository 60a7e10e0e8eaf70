"""Recording notifications and handing them to the event's workflow.

Used by the event, notification and subscription services alike; imports none of them.
"""
from datetime import datetime

from sqlalchemy import delete, select

from ..field_limits import TITLE_MAX
from ..messages import when_text
from ..models import Event, EventStatus, Notification, NotificationKind, Subscription, User, db
from .temporal import tell_event_workflow


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


# The fields an update tells followers about (what ``describe_change`` compares).
TOLD_FIELDS = ("title", "starts_at", "ends_at", "location", "online_url")
_TOLD_TIMES = ("starts_at", "ends_at")


def change_snapshot(before: dict) -> dict:
    """The told fields of ``before`` as JSON (times as ISO 8601), kept on an update."""
    return {
        name: (before[name].isoformat() if name in _TOLD_TIMES and before[name] is not None else before[name])
        for name in TOLD_FIELDS
    }


def _from_snapshot(snapshot: dict) -> dict:
    return {
        name: (datetime.fromisoformat(value) if name in _TOLD_TIMES and value is not None else value)
        for name, value in snapshot.items()
    }


def coalesce_updates(event_id: int, notification_ids: list[int]) -> int | None:
    """Updates held through a coalescing window become one: the first keeps its id, now telling
    everything that changed from before it to the event as it is; the others (never sent) go.
    None, and all of them go, when the event was cancelled meanwhile (the cancellation says it
    all) or the edits undid each other. Commits; running it again gives the same answer."""
    held = list(db.session.scalars(
        select(Notification).where(Notification.id.in_(notification_ids), Notification.event_id == event_id,
                                   Notification.kind == NotificationKind.UPDATE)
        .order_by(Notification.id)
    ))
    if not held:
        return None
    first = held[0]
    event = db.session.get(Event, event_id)
    summary = None
    if event is not None and event.status != EventStatus.CANCELLED:
        summary = describe_change(_from_snapshot(first.change_from), event) if first.change_from else first.body
    superseded = [n.id for n in held[1:]] if summary else [n.id for n in held]
    if superseded:
        db.session.execute(delete(Notification).where(Notification.id.in_(superseded)))
    if summary:
        first.title, first.body = f"Updated: {event.title}"[:TITLE_MAX], summary
    db.session.commit()
    return first.id if summary else None


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
