"""The durable delivery of one outgoing webhook message (and of each resend of it): attempts
with exponential backoff on workflow timers until the endpoint takes it or the retry window
(3 days by default) closes. The attempts themselves are the send_webhook activity's."""
from dataclasses import dataclass
from datetime import datetime, timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

SEND_WEBHOOK = "send_webhook"
# After a notification's batches: tells organizers' endpoints how it went (notification.sent,
# delivery.failed). Called by the EventWorkflow.
NOTIFICATION_SETTLED = "notification_settled"
ATTEMPT_TIMEOUT = timedelta(seconds=60)


@dataclass
class WebhookDeliveryInput:
    message_id: int
    # From the settings when the workflow starts, so its history always replays the same.
    first_retry_seconds: float
    max_retry_seconds: float
    retry_window_seconds: float

    @classmethod
    def from_config(cls, message_id: int, config) -> "WebhookDeliveryInput":
        return cls(message_id, float(config["WEBHOOK_FIRST_RETRY_SECONDS"]), float(config["WEBHOOK_MAX_RETRY_SECONDS"]),
                   float(config["WEBHOOK_RETRY_WINDOW_SECONDS"]))


@dataclass
class WebhookAttemptInput:
    message_id: int
    # When the next attempt comes if this one fails (shown to the owner); None: the last one.
    next_attempt_at: datetime | None


@workflow.defn
class WebhookDeliveryWorkflow:
    @workflow.run
    async def run(self, params: WebhookDeliveryInput) -> bool:
        """True once the endpoint took the message; False when the window closed first."""
        give_up_at = workflow.now() + timedelta(seconds=params.retry_window_seconds)
        delay = params.first_retry_seconds
        while True:
            next_attempt_at = workflow.now() + timedelta(seconds=delay)
            delivered = await workflow.execute_activity(
                SEND_WEBHOOK,
                WebhookAttemptInput(params.message_id, next_attempt_at if next_attempt_at <= give_up_at else None),
                start_to_close_timeout=ATTEMPT_TIMEOUT,
                # The activity records every answer the endpoint gives; only its own crash is retried here.
                retry_policy=RetryPolicy(initial_interval=timedelta(seconds=1), maximum_attempts=5),
                result_type=bool,
            )
            if delivered or next_attempt_at > give_up_at:
                return delivered
            await workflow.sleep(timedelta(seconds=delay))
            delay = min(delay * 2, params.max_retry_seconds)


def delivery_workflow_id(prefix: str, message_id: int, series: str) -> str:
    """One workflow per message and per resend of it (``series`` tells them apart)."""
    return f"{prefix}webhook-{message_id}-{series}"
