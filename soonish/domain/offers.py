"""The waitlist offer's message: what a person offered a freed place is told, and where (their
address; without one, the DMs of their chat accounts). Runs inside the app context."""
from dataclasses import dataclass, replace
from datetime import datetime

from flask import current_app
from sqlalchemy import select

from soonish.crypto import FieldCipher
from soonish.links import event_path, rsvp_offer_path, rsvp_offer_token
from soonish.models import ChatIdentityKind, Rsvp, RsvpAnswer, Subscription, db
from soonish.domain.delivery.mail import _one_off, absolute_url
from soonish.domain.delivery.planning import chat_address, workspace_bots
from soonish.domain.delivery.types import Destination
from soonish.domain.messages import Message, reader_locale, when_text
from soonish.i18n import _l


@dataclass(frozen=True)
class OfferMessage:
    message: Message
    destinations: list[Destination]


def waitlist_offer(rsvp_id: int, expires_at: datetime, key: str) -> OfferMessage | None:
    """The offer of a place held for ``rsvp_id`` until ``expires_at``; None when it was taken,
    withdrawn or replaced meanwhile. ``key`` makes the delivery key (the offer workflow's id)."""
    rsvp = db.session.get(Rsvp, rsvp_id)
    if rsvp is None or rsvp.answer != RsvpAnswer.WAITLISTED or rsvp.offer_expires_at != expires_at:
        return None
    event, user = rsvp.event, rsvp.user
    token = rsvp_offer_token(current_app.config["SECRET_KEY"], rsvp.id, expires_at)
    context = dict(
        event=event, when=lambda locale: when_text(event, locale=locale),
        expires=lambda locale: when_text(event, expires_at, locale=locale),
        accept_url=absolute_url(rsvp_offer_path(token)), event_url=absolute_url(event_path(event.slug)),
    )
    message = _one_off(f"soonish-rsvp-offer-{key}", "rsvp_offer",
                       _l("A place opened up: %(title)s", title=event.title), context, _offer_locale(rsvp))
    message = replace(message, short=f"{message.title}\n{message.text}")
    if user.email:
        destinations = [Destination(email=user.email)]
    else:
        people = [i for i in user.chat_identities if i.kind == ChatIdentityKind.USER]
        config = current_app.config
        bots = workspace_bots(people, FieldCipher.from_setting(config["ENCRYPTION_KEYS"], config["SECRET_KEY"]))
        destinations = [Destination(chat=chat_address(i, bots)) for i in people]
    return OfferMessage(message, destinations)


def _offer_locale(rsvp: Rsvp) -> str | None:
    """The offered person's language: their follow of the event's (saying "going" follows it),
    else their account's."""
    subscription = db.session.scalar(select(Subscription).where(
        Subscription.event_id == rsvp.event_id, Subscription.user_id == rsvp.user_id))
    return reader_locale(subscription) if subscription is not None else rsvp.user.locale
