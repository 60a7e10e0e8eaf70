"""What an event's workflow asks of the database about the event itself. Runs inside the app context."""
import logging

from sqlalchemy import delete, select

from soonish.domain.messages import describe_change, from_snapshot, updated_title
from soonish.models import Event, EventStatus, Notification, NotificationKind, db

log = logging.getLogger(__name__)


def complete_event(event_id: int) -> bool:
    """Mark a scheduled event completed (it is over); False when it is gone or not scheduled."""
    event = db.session.get(Event, event_id)
    if event is None or event.status != EventStatus.SCHEDULED:
        return False
    event.status = EventStatus.COMPLETED
    db.session.commit()
    log.info("event completed", extra={"event_id": event.id})
    return True


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
        summary = describe_change(from_snapshot(first.change_from), event) if first.change_from else first.body
    superseded = [n.id for n in held[1:]] if summary else [n.id for n in held]
    if superseded:
        db.session.execute(delete(Notification).where(Notification.id.in_(superseded)))
    if summary:
        first.title, first.body = updated_title(event.title), summary
    db.session.commit()
    return first.id if summary else None
