"""Optimistic concurrency on events: a change made from an older version than the stored one
is refused instead of silently overwriting what someone else saved in between.

The version is the event's ``version`` column (bumped on every change); the API shows it as the
ETag and reads it from If-Match, the edit page carries it in a hidden field."""
from ..models import Event, db
from .errors import ServiceError
from .events import get_event_for_organizer


class VersionMismatch(ServiceError):
    status = 412
    code = "precondition_failed"

    def __init__(self, event: Event) -> None:
        super().__init__(
            "This event changed while you were editing (saved elsewhere, in another tab or through the API). "
            "Check the current details, then save again."
        )
        self.event = event


def etag(event: Event) -> str:
    return f'"{event.version}"'


def event_at_version(actor, event_id: int, expected_version: int | None) -> Event:
    """The organizer's event, locked for the change that follows (PostgreSQL: until the commit,
    so two changes from the same version cannot both pass), when it is still at
    ``expected_version``; None means the caller did not say and takes what is there."""
    event = get_event_for_organizer(actor, event_id)
    db.session.refresh(event, with_for_update=True)
    if expected_version is not None and expected_version != event.version:
        raise VersionMismatch(event)
    return event
