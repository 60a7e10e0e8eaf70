"""What the webhook delivery workflow, its activities and its starters share. Plain data."""
from dataclasses import dataclass
from datetime import datetime, timedelta

SEND_WEBHOOK = "send_webhook"
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


def delivery_workflow_id(prefix: str, message_id: int, series: str) -> str:
    """One workflow per message and per resend of it (``series`` tells them apart)."""
    return f"{prefix}webhook-{message_id}-{series}"
