"""Activities: all of the workflows' I/O, each a thin adapter that runs the delivery domain
inside the Flask app's context."""
from flask import Flask
from temporalio import activity

from soonish.delivery.events import coalesce_updates, complete_event
from soonish.temporal.shared import ActivityName, CoalescedUpdate, EventRef, HeldUpdates


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
        return [self.complete_event, self.coalesce_updates]

    @database_activity(ActivityName.COMPLETE_EVENT)
    def complete_event(self, ref: EventRef) -> None:
        with self.app.app_context():
            complete_event(ref.event_id)

    @database_activity(ActivityName.COALESCE_UPDATES)
    def coalesce_updates(self, held: HeldUpdates) -> CoalescedUpdate:
        with self.app.app_context():
            return CoalescedUpdate(coalesce_updates(held.event_id, held.notification_ids))
