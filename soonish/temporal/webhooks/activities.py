"""The outgoing webhooks' activities: thin adapters over soonish.domain.outgoing_webhooks, in the app's
context. send_webhook makes one signed attempt; notification_settled records what a finished
notification tells organizers' endpoints and starts a delivery workflow for each message; it
also marks the notification settled in the ledger, which is what ends the organizer's live counts."""
import asyncio
import uuid

from flask import Flask
from temporalio import activity
from temporalio.client import Client

from soonish.domain import outgoing_webhooks
from soonish.domain.delivery import ledger
from soonish.temporal.delivery.types import NotificationRef
from soonish.temporal.delivery.types import NOTIFICATION_SETTLED
from soonish.temporal.webhooks.types import (
    SEND_WEBHOOK,
    WebhookAttemptInput,
    WebhookDeliveryInput,
    delivery_workflow_id,
)
from soonish.temporal.webhooks.workflow import WebhookDeliveryWorkflow


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
        def record() -> list[int]:
            with self.app.app_context():
                ledger.mark_settled(ref.notification_id)
                return [m.id for m in outgoing_webhooks.notification_settled(ref.notification_id)]

        message_ids = await asyncio.to_thread(record)
        config = self.app.config
        for message_id in message_ids:
            # The message ids are derived from the notification, so a retry records nothing new.
            await self.client.start_workflow(
                WebhookDeliveryWorkflow.run, WebhookDeliveryInput.from_config(message_id, config),
                id=delivery_workflow_id(config["TEMPORAL_ID_PREFIX"], message_id, uuid.uuid4().hex[:8]),
                task_queue=config["TEMPORAL_TASK_QUEUE"],
            )
        return len(message_ids)
