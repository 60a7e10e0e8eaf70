"""The outgoing webhooks' activities: thin adapters over soonish.domain.outgoing_webhooks, in the app's
context. send_webhook makes one signed attempt, through the worker's Courier (its HTTP pool and
budgets); notification_settled records what a finished notification tells organizers' endpoints
(the outbox drain starts each message's delivery); it also marks the notification settled in the
ledger, which is what ends the organizer's live counts."""
import asyncio
from collections.abc import Callable
from typing import Any, TypeVar

from flask import Flask
from temporalio import activity
from temporalio.client import Client

from soonish.domain import outgoing_webhooks
from soonish.models import db
from soonish.domain.delivery import Failed, ledger
from soonish.temporal.delivery.activities import DeliveryActivities
from soonish.temporal.delivery.types import NotificationRef
from soonish.temporal.delivery.types import NOTIFICATION_SETTLED
from soonish.temporal.webhooks.types import SEND_WEBHOOK, WebhookAttemptInput

T = TypeVar("T")


class WebhookActivities:
    def __init__(self, app: Flask, client: Client, deliveries: DeliveryActivities) -> None:
        self.app = app
        self.client = client
        self.deliveries = deliveries

    def all(self) -> list:
        return [self.send_webhook, self.notification_settled]

    async def _in_app(self, call: Callable[..., T], *args: Any) -> T:
        """A database call of the domain, in the app's context, off the event loop."""
        def run() -> T:
            with self.app.app_context():
                return call(*args)
        return await asyncio.to_thread(run)

    @activity.defn(name=SEND_WEBHOOK)
    async def send_webhook(self, attempt: WebhookAttemptInput) -> bool:
        """One attempt, recorded; True when there is nothing more to do. No transaction is held
        open across the HTTP call."""
        prepared = await self._in_app(outgoing_webhooks.prepare_attempt, attempt.message_id,
                                      bool(self.app.config["ALLOW_PRIVATE_TARGETS"]), self.app.config)
        if prepared is None:
            return True
        if isinstance(prepared, Failed):
            outcome = prepared
        else:
            async with self.deliveries.courier() as courier:
                outcome = await courier.deliver(*prepared)
        return await self._in_app(outgoing_webhooks.record_attempt, attempt.message_id, attempt.next_attempt_at, outcome)

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
