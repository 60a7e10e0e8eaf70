"""Waitlist offers: starting an offer's workflow, and its activities (tell the person; pass an
untaken place on when the offer runs out)."""
import asyncio
from datetime import datetime
from pathlib import Path

from flask import Flask
from temporalio import activity
from temporalio.client import Client
from temporalio.exceptions import WorkflowAlreadyStartedError

from soonish.domain import offers, waitlist
from soonish.domain.delivery import ChatSettings, Courier, DeliveryFailed, MailSettings
from soonish.temporal.waitlist.types import RsvpActivityName, WaitlistOffer, offer_workflow_id
from soonish.temporal.waitlist.workflow import WaitlistOfferWorkflow


async def start_offer(client: Client, id_prefix: str, task_queue: str, offer: WaitlistOffer) -> None:
    try:
        await client.start_workflow(WaitlistOfferWorkflow.run, offer, id=offer_workflow_id(id_prefix, offer),
                                    task_queue=task_queue)
    except WorkflowAlreadyStartedError:
        pass  # a retried activity: the offer is already being timed


def start_offer_workflow(temporal, rsvp_id: int, expires_at: datetime) -> None:
    """Start an offer's workflow through the app's TemporalGateway (from the services)."""
    offer = WaitlistOffer(rsvp_id, expires_at)
    temporal.run(lambda client: start_offer(client, temporal.settings.id_prefix, temporal.settings.task_queue, offer))


class RsvpActivities:
    def __init__(self, app: Flask, client: Client) -> None:
        self.app = app
        self.client = client

    def all(self) -> list:
        return [self.send_waitlist_offer, self.expire_waitlist_offer]

    @activity.defn(name=RsvpActivityName.SEND_OFFER, no_thread_cancel_exception=True)
    def send_waitlist_offer(self, offer: WaitlistOffer) -> None:
        """Mail the offer (or DM it to the person's chat accounts when they have no address)."""
        config = self.app.config
        with self.app.app_context():
            told = offers.waitlist_offer(offer.rsvp_id, offer.expires_at, activity.info().workflow_id)
        if told is None:
            return  # taken, withdrawn or replaced meanwhile
        mail = MailSettings.from_config(config, str(Path(self.app.instance_path) / "outbox"))

        async def send_all() -> None:
            async with Courier(mail, bool(config["ALLOW_PRIVATE_TARGETS"]), chat=ChatSettings.from_config(config)) as courier:
                for destination in told.destinations:
                    await courier.send(destination, told.message)

        try:
            asyncio.run(send_all())
        except DeliveryFailed as exc:
            if not exc.permanent:
                raise
            activity.logger.warning("waitlist offer not delivered: %s", exc.reason)

    @activity.defn(name=RsvpActivityName.EXPIRE_OFFER)
    async def expire_waitlist_offer(self, offer: WaitlistOffer) -> int:
        """Pass an untaken place on: the next in line gets their own offer workflow. Returns
        how many new offers were made."""
        made = await asyncio.to_thread(self._expire, offer)
        for rsvp_id, expires_at in made:
            await start_offer(self.client, self.app.config["TEMPORAL_ID_PREFIX"], self.app.config["TEMPORAL_TASK_QUEUE"],
                              WaitlistOffer(rsvp_id, expires_at))
        return len(made)

    def _expire(self, offer: WaitlistOffer) -> list[tuple[int, datetime]]:
        with self.app.app_context():
            event = waitlist.expire(offer.rsvp_id, offer.expires_at)
            if event is None:
                return []
            return waitlist.claim_offers(event, int(self.app.config["RSVP_OFFER_SECONDS"]))
