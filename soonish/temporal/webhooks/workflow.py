"""The durable delivery of one outgoing webhook message (and of each resend of it): attempts
with exponential backoff on workflow timers until the endpoint takes it or the retry window
(3 days by default) closes. The attempts themselves are the send_webhook activity's."""
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from soonish.temporal.webhooks.types import ATTEMPT_TIMEOUT, SEND_WEBHOOK, WebhookAttemptInput, WebhookDeliveryInput


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
