"""The send_webhook activity: a thin adapter over soonish.outgoing_webhooks, in the app's context."""
import asyncio

from flask import Flask
from temporalio import activity

from .. import outgoing_webhooks
from .webhook_workflow import SEND_WEBHOOK, WebhookAttemptInput


class WebhookActivities:
    def __init__(self, app: Flask) -> None:
        self.app = app

    def all(self) -> list:
        return [self.send_webhook]

    @activity.defn(name=SEND_WEBHOOK)
    def send_webhook(self, attempt: WebhookAttemptInput) -> bool:
        with self.app.app_context():
            # One short-lived loop in this activity thread; the HTTP call is aiohttp's, guarded.
            return asyncio.run(outgoing_webhooks.attempt(
                attempt.message_id, attempt.next_attempt_at, bool(self.app.config["ALLOW_PRIVATE_TARGETS"]),
                self.app.config,
            ))
