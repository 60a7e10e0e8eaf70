"""Two changes of one thing at the same instant, and changes made from an older version.

A one-time change (cancel an event, erase an account) and an edit from a version both end in a
conditional update: an event is written ``UPDATE ... WHERE id = ? AND version = <as read>``
(``models.Event``'s version column), an erasure claims the account ``WHERE erased_at IS NULL``.
The check and the write are one statement, so of two requests that read the same state only
one writes; the other is run again from a fresh read (``rerun_if_changed_meanwhile``) and meets
what the first did: an event already cancelled (the same answer, nothing sent twice), a version
that moved (412), an account already erased.

The version is the event's ``version`` column (bumped on every change); the API shows it as the
ETag and reads it from If-Match, the edit page carries it in a hidden field."""
import functools

from sqlalchemy.orm.exc import StaleDataError

from soonish.models import Event, db
from soonish.services.errors import Conflict, ServiceError
from soonish.i18n import _l

# Each run after the first follows a change that another request committed meanwhile: three runs
# lose only to a row changed three times during one request.
RUNS = 3


class VersionMismatch(ServiceError, status=412, code="precondition_failed"):
    def __init__(self, event: Event) -> None:
        super().__init__(
            "This event changed while you were editing (saved elsewhere, in another tab or through the API). "
            "Check the current details, then save again."
        )
        self.event = event


def etag(event: Event) -> str:
    return f'"{event.version}"'


def check_version(event: Event, expected_version: int | None) -> None:
    """Refuse a change based on another version than ``event``'s; None means the caller did not
    say and takes what is there. The write repeats the check (``WHERE version = ?``)."""
    if expected_version is not None and expected_version != event.version:
        raise VersionMismatch(event)


def rerun_if_changed_meanwhile(operation):
    """Run a service operation again from a fresh read when its conditional update found the row
    changed by another request meanwhile (SQLAlchemy's StaleDataError). The operation must read
    what it decides on inside, and cause nothing before its commit."""

    @functools.wraps(operation)
    def run(*args, **kwargs):
        for _ in range(RUNS):
            try:
                return operation(*args, **kwargs)
            except StaleDataError:
                db.session.rollback()
        raise Conflict(_l("This changed several times while we were saving it; please try again."))

    return run
