"""The event workflow's activities: thin adapters that run the event domain inside the Flask app's
context."""
from soonish.domain.events import coalesce_updates, complete_event
from soonish.temporal.activities import AppBound, database_activity
from soonish.temporal.events.types import CoalescedUpdate, EventRef, HeldUpdates
from soonish.temporal.delivery.types import ActivityName


class EventActivities(AppBound):
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
