"""What an event's workflow asks of the database about the event itself. Runs inside the app context."""
import logging

from ..models import Event, EventStatus, db

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
