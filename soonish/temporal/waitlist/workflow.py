"""The waitlist offer's workflow: tell the person a freed place is theirs if they take it,
wait until the offer expires, then pass an untaken place on. Only orchestrates."""
from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from soonish.temporal.delivery.types import ACTIVITY_TIMEOUT, DELIVERY_RETRY
    from soonish.temporal.waitlist.types import RsvpActivityName, WaitlistOffer


@workflow.defn
class WaitlistOfferWorkflow:
    """Tell the person a place is theirs if they take it, wait until the offer expires, then
    pass an untaken place on (the activity checks: an accepted offer changes nothing)."""

    @workflow.run
    async def run(self, offer: WaitlistOffer) -> None:
        await workflow.execute_activity(
            RsvpActivityName.SEND_OFFER, offer, start_to_close_timeout=ACTIVITY_TIMEOUT, retry_policy=DELIVERY_RETRY,
        )
        wait = offer.expires_at - workflow.now()
        if wait.total_seconds() > 0:
            await workflow.sleep(wait)
        await workflow.execute_activity(
            RsvpActivityName.EXPIRE_OFFER, offer, start_to_close_timeout=ACTIVITY_TIMEOUT,
        )
