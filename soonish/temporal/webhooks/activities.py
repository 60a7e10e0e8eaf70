"""The outgoing webhooks' activities: thin adapters over soonish.domain.outgoing_webhooks, in the app's
context. send_webhook makes one signed attempt, through the worker's Courier (its HTTP pool and
budgets); notification_settled records what a finished notification tells organizers' endpoints
(the outbox drain starts each message's delivery); it also marks the notification settled in the
ledger, which is what ends the organizer's live counts."""
from temporalio import activity

from soonish.domain import outgoing_webhooks
from soonish.models import db
from soonish.domain.delivery import Failed, ledger
from soonish.temporal.delivery.activities import ClientBound
from soonish.temporal.delivery.types import NotificationRef
from soonish.temporal.delivery.types import NOTIFICATION_SETTLED
from soonish.temporal.webhooks.types import SEND_WEBHOOK, WebhookAttemptInput


class WebhookActivities(ClientBound):
    def all(self) -> list:
        return [self.send_webhook, self.notification_settled]

    @activity.defn(name=SEND_WEBHOOK)
    async def send_webhook(self, attempt: WebhookAttemptInput) -> bool:
        """One attempt, recorded; True when there is nothing more to do. No transaction is held
        open across the HTTP call."""
        prepared = await self.in_app(outgoing_webhooks.prepare_attempt, attempt.message_id,
                                      bool(self.app.config["ALLOW_PRIVATE_TARGETS"]), self.app.config)
        if prepared is None:
            return True
        if isinstance(prepared, Failed):
            outcome = prepared
        else:
            async with self.deliveries.courier() as courier:
                outcome = await courier.deliver(*prepared)
        return await self.in_app(outgoing_webhooks.record_attempt, attempt.message_id, attempt.next_attempt_at, outcome)

    @activity.defn(name=NOTIFICATION_SETTLED)
    async def notification_settled(self, ref: NotificationRef) -> int:
        def record() -> int:
            ledger.mark_settled(ref.notification_id)
            # The message ids are derived from the notification, so a retry records nothing new.
            recorded = len(outgoing_webhooks.notification_settled(ref.notification_id))
            db.session.commit()
            return recorded

        return await self.in_app(record)
