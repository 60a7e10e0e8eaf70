"""What the waitlist offer's workflow, its activities and its starters share. Pure data,
passed through the workflow sandbox (a dataclass defined inside it gets the sandbox's datetime)."""
from dataclasses import dataclass
from datetime import datetime


class RsvpActivityName:
    SEND_OFFER = "rsvp.send_waitlist_offer"
    EXPIRE_OFFER = "rsvp.expire_waitlist_offer"


@dataclass
class WaitlistOffer:
    rsvp_id: int
    expires_at: datetime


def offer_workflow_id(prefix: str, offer: WaitlistOffer) -> str:
    # The expiry is in the id: one workflow per offer, and a repeated start is refused.
    return f"{prefix}rsvp-offer-{offer.rsvp_id}-{int(offer.expires_at.timestamp())}"
