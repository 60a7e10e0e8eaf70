"""Waitlist offers: starting an offer's workflow (the outbox drain does), and its activities (tell the person; pass an
untaken place on when the offer runs out)."""
from datetime import datetime, timedelta

from temporalio import activity
from temporalio.client import Client
from temporalio.exceptions import ApplicationError, WorkflowAlreadyStartedError

from soonish.domain import offers, waitlist
from soonish.models import db
from soonish.domain.delivery import Failed, RetryAfter
from soonish.temporal.delivery.activities import ClientBound
from soonish.temporal.waitlist.types import RsvpActivityName, WaitlistOffer, offer_workflow_id
from soonish.temporal.waitlist.workflow import WaitlistOfferWorkflow


async def start_offer(client: Client, id_prefix: str, task_queue: str, offer: WaitlistOffer) -> None:
    try:
        await client.start_workflow(WaitlistOfferWorkflow.run, offer, id=offer_workflow_id(id_prefix, offer),
                                    task_queue=task_queue)
    except WorkflowAlreadyStartedError:
        pass  # a retried outbox row: the offer is already being timed


class RsvpActivities(ClientBound):
    def all(self) -> list:
        return [self.send_waitlist_offer, self.expire_waitlist_offer]

    @activity.defn(name=RsvpActivityName.SEND_OFFER)
    async def send_waitlist_offer(self, offer: WaitlistOffer) -> None:
        """Mail the offer (or DM it to the person's chat accounts when they have no address),
        through the worker's Courier and budgets. A destination that refuses it for good is
        logged and the others still told; one to try again later retries the activity."""
        told = await self.in_app(offers.waitlist_offer, offer.rsvp_id, offer.expires_at, activity.info().workflow_id)
        if told is None:
            return  # taken, withdrawn or replaced meanwhile
        async with self.deliveries.courier() as courier:
            for destination in told.destinations:
                outcome = await courier.deliver(destination, told.message)
                if isinstance(outcome, Failed) and outcome.permanent:
                    activity.logger.warning("waitlist offer not delivered: %s", outcome.reason)
                elif isinstance(outcome, RetryAfter):
                    raise ApplicationError(outcome.reason, next_retry_delay=timedelta(seconds=outcome.seconds))
                elif isinstance(outcome, Failed):
                    raise ApplicationError(outcome.reason)

    @activity.defn(name=RsvpActivityName.EXPIRE_OFFER)
    async def expire_waitlist_offer(self, offer: WaitlistOffer) -> int:
        """Pass an untaken place on: the next in line gets their own offer workflow (started by
        the outbox drain). Returns how many new offers were made."""
        return len(await self.in_app(self._expire, offer))

    def _expire(self, offer: WaitlistOffer) -> list[tuple[int, datetime]]:
        event = waitlist.expire(offer.rsvp_id, offer.expires_at)
        if event is None:
            return []
        made = waitlist.claim_offers(event, int(self.app.config["RSVP_OFFER_SECONDS"]))
        db.session.commit()
        return made
