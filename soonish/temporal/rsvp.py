"""Waitlist offers: starting an offer's workflow, and its activities (tell the person; pass an
untaken place on when the offer runs out)."""
import asyncio
from datetime import datetime
from pathlib import Path

from flask import Flask, render_template
from temporalio import activity
from temporalio.client import Client
from temporalio.exceptions import WorkflowAlreadyStartedError

from .. import waitlist
from ..delivery import ChatAddress, ChatSettings, Courier, DeliveryFailed, Destination, MailSettings, Message
from ..links import event_path, public_url, rsvp_offer_path, rsvp_offer_token
from ..messages import when_text
from ..models import ChatIdentityKind, Rsvp, RsvpAnswer, db
from .waitlist_types import RsvpActivityName, WaitlistOffer, offer_workflow_id
from .waitlist_workflow import WaitlistOfferWorkflow


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
        with self.app.app_context():
            rsvp = db.session.get(Rsvp, offer.rsvp_id)
            if rsvp is None or rsvp.answer != RsvpAnswer.WAITLISTED or rsvp.offer_expires_at != offer.expires_at:
                return  # taken, withdrawn or replaced meanwhile
            config = self.app.config
            event, user = rsvp.event, rsvp.user
            token = rsvp_offer_token(config["SECRET_KEY"], rsvp.id, offer.expires_at)
            context = dict(
                event=event, when=when_text(event), expires=when_text(event, offer.expires_at),
                accept_url=public_url(config["PUBLIC_URL"], rsvp_offer_path(token)),
                event_url=public_url(config["PUBLIC_URL"], event_path(event.slug)),
            )
            title = f"A place opened up: {event.title}"
            text = render_template("mail/rsvp_offer.txt", **context)
            message = Message(
                delivery_key=f"soonish-rsvp-offer-{activity.info().workflow_id}", title=title, text=text,
                short=f"{title}\n{text}", html=render_template("mail/rsvp_offer.html", **context),
            )
            if user.email:
                destinations = [Destination(email=user.email)]
            else:
                destinations = [Destination(chat=ChatAddress(i.platform, i.external_user_id))
                                for i in user.chat_identities if i.kind == ChatIdentityKind.USER]
            mail = MailSettings.from_config(config, str(Path(self.app.instance_path) / "outbox"))

        async def send_all() -> None:
            async with Courier(mail, bool(config["ALLOW_PRIVATE_TARGETS"]), chat=ChatSettings.from_config(config)) as courier:
                for destination in destinations:
                    await courier.send(destination, message)

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
        offers = await asyncio.to_thread(self._expire, offer)
        for rsvp_id, expires_at in offers:
            await start_offer(self.client, self.app.config["TEMPORAL_ID_PREFIX"], self.app.config["TEMPORAL_TASK_QUEUE"],
                              WaitlistOffer(rsvp_id, expires_at))
        return len(offers)

    def _expire(self, offer: WaitlistOffer) -> list[tuple[int, datetime]]:
        with self.app.app_context():
            event = waitlist.expire(offer.rsvp_id, offer.expires_at)
            if event is None:
                return []
            return waitlist.claim_offers(event, int(self.app.config["RSVP_OFFER_SECONDS"]))
