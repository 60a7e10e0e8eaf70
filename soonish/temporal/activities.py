"""Activities: all of the workflows' I/O, each run inside the Flask app's context."""
import logging

from flask import Flask
from temporalio import activity

from ..models import Event, EventStatus, db
from .shared import ActivityName, EventRef

log = logging.getLogger(__name__)


def database_activity(name: str):
    """A synchronous activity that works in the database.

    Temporal cancels a threaded activity (at worker shutdown, for one) by raising an exception
    in its thread wherever it is. Raised between a query and its answer, it leaves the connection
    with an unread result and an open transaction holding its locks (seen: a DROP TABLE waiting
    forever behind a plan_fanout cancelled that way). These activities are short: let them finish.
    """
    return activity.defn(name=name, no_thread_cancel_exception=True)


class EventActivities:
    """Activities bound to one app, so each runs with its database and config."""

    def __init__(self, app: Flask) -> None:
        self.app = app

    def all(self) -> list:
        return [self.complete_event]

    @database_activity(ActivityName.COMPLETE_EVENT)
    def complete_event(self, ref: EventRef) -> None:
        with self.app.app_context():
            event = db.session.get(Event, ref.event_id)
            if event is None or event.status != EventStatus.SCHEDULED:
                return
            event.status = EventStatus.COMPLETED
            db.session.commit()
            log.info("event completed", extra={"event_id": event.id})
