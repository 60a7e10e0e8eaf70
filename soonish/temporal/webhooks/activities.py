"""The outgoing webhooks' activities: thin adapters over soonish.domain.outgoing_webhooks, in the app's
context. send_webhook makes one signed attempt; notification_settled records what a finished
notification tells organizers' endpoints (the outbox drain starts each message's delivery); it
also marks the notification settled in the ledger, which is what ends the organizer's live counts."""
import asyncio

from flask import Flask
from temporalio import activity
from temporalio.client import Client

from soonish.domain import outgoing_webhooks
from soonish.models import db
from soonish.domain.delivery import ledger
from soonish.temporal.delivery.types import NotificationRef
from soonish.temporal.delivery.types import NOTIFICATION_SETTLED
from soonish.temporal.webhooks.types import SEND_WEBHOOK, WebhookAttemptInput


class WebhookActivities:
    def __init__(self, app: Flask, client: Client) -> None:
        self.app = app
        self.client = client

    def all(self) -> list:
        return [self.send_webhook, self.notification_settled]

    # Synchronous and in the database: let it finish rather than be interrupted mid-query (see
    # activities.database_activity); its HTTP call is bounded by the webhook timeout.
    @activity.defn(name=SEND_WEBHOOK, no_thread_cancel_exception=True)
    def send_webhook(self, attempt: WebhookAttemptInput) -> bool:
        with self.app.app_context():
            # One short-lived loop in this activity thread; the HTTP call is aiohttp's, guarded.
            return asyncio.run(outgoing_webhooks.attempt(
                attempt.message_id, attempt.next_attempt_at, bool(self.app.config["ALLOW_PRIVATE_TARGETS"]),
                self.app.config,
            ))

    @activity.defn(name=NOTIFICATION_SETTLED)
    async def notification_settled(self, ref: NotificationRef) -> int:
        def record() -> int:
            with self.app.app_context():
                ledger.mark_settled(ref.notification_id)
                # The message ids are derived from the notification, so a retry records nothing new.
                recorded = len(outgoing_webhooks.notification_settled(ref.notification_id))
                db.session.commit()
                return recorded

        return await asyncio.to_thread(record)
