"""The waitlist of a full event, in the database alone: which places are held, who is offered
the next freed one, and an offer running out. The services and the offer workflow's activities
share it; starting the offers' workflows is their callers' part."""
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select, update

from soonish.domain import outbox
from soonish.models import Event, EventStatus, Rsvp, RsvpAnswer, db, lock_for_change, utcnow


def lock_event(event: Event) -> None:
    """Serialize answers to one event until the commit, so two people can't both take its last
    place and one answer sent twice at once counts once; call it before reading what to decide on."""
    lock_for_change(event)


@dataclass(frozen=True)
class Tally:
    by_answer: dict[RsvpAnswer, int]
    # Places held for someone on the waitlist: an open offer, neither taken nor timed out yet.
    held: int


def tally(event: Event) -> Tally:
    """The answers' counts and the held places, in one query (the event page reads it on every view)."""
    rows = db.session.execute(
        select(Rsvp.answer, func.count(), func.count(Rsvp.offer_expires_at))
        .where(Rsvp.event_id == event.id).group_by(Rsvp.answer)
    ).all()
    return Tally({answer: n for answer, n, _ in rows},
                 sum(offered for answer, _, offered in rows if answer == RsvpAnswer.WAITLISTED))


def places_left(capacity: int | None, going: int, held: int) -> int | None:
    """THE rule for free places, read by the page, the API and the offers: a place held for the
    waitlist is no more free than one taken by someone going. None: no limit."""
    return None if capacity is None else max(0, capacity - going - held)


def free_places(event: Event) -> int | None:
    counted = tally(event)
    return places_left(event.capacity, counted.by_answer.get(RsvpAnswer.GOING, 0), counted.held)


def claim_offers(event: Event, offer_seconds: int) -> list[tuple[int, datetime]]:
    """Hold each free place for the next on the waitlist, in the caller's transaction (the caller
    commits), with an outbox row per offer that starts its workflow (which tells the person and
    times the offer). Returns (rsvp id, expiry) of the new offers."""
    if event.capacity is None or event.status != EventStatus.SCHEDULED or event.starts_at <= utcnow():
        return []
    lock_event(event)
    free = free_places(event)
    waiting = [] if free == 0 else list(db.session.scalars(
        select(Rsvp).where(Rsvp.event_id == event.id, Rsvp.answer == RsvpAnswer.WAITLISTED,
                           Rsvp.offer_expires_at.is_(None))
        .order_by(Rsvp.waitlisted_at, Rsvp.id).limit(free)
    ))
    # Never beyond the start: a place offered for after the event is no place.
    expires = min(utcnow() + timedelta(seconds=offer_seconds), event.starts_at)
    for rsvp in waiting:
        rsvp.offer_expires_at = expires
        outbox.waitlist_offer(event, rsvp.id, expires)
    return [(rsvp.id, expires) for rsvp in waiting]


def expire(rsvp_id: int, expires_at: datetime) -> Event | None:
    """The offer's time is up. Untaken, the person is down as "maybe" and leaves the line;
    commits and returns the event (whose freed place goes to the next). None if the offer was
    taken, withdrawn or replaced meanwhile."""
    rsvp = db.session.get(Rsvp, rsvp_id)
    if rsvp is None:
        return None
    # The offer may be being taken at this instant. The expiry takes its turn with the event's
    # answers (an answer reads the places held and then the person's row: an expiry committed
    # between the two reads would have them waitlisted), and is one conditional update, so it
    # never puts back a place just taken.
    lock_event(rsvp.event)
    expired = db.session.execute(
        update(Rsvp).where(Rsvp.id == rsvp_id, Rsvp.answer == RsvpAnswer.WAITLISTED, Rsvp.offer_expires_at == expires_at)
        .values(answer=RsvpAnswer.MAYBE, offer_expires_at=None, waitlisted_at=None, answered_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    if expired.rowcount == 0:
        db.session.rollback()
        return None
    db.session.commit()
    return rsvp.event


def place_in_line(rsvp: Rsvp) -> int | None:
    """Where a waitlisted answer stands (1: offered the next freed place), in the order
    ``claim_offers`` offers places; None when not on the waitlist."""
    if rsvp.answer != RsvpAnswer.WAITLISTED:
        return None
    ahead = db.session.scalar(
        select(func.count()).select_from(Rsvp).where(
            Rsvp.event_id == rsvp.event_id, Rsvp.answer == RsvpAnswer.WAITLISTED,
            (Rsvp.waitlisted_at < rsvp.waitlisted_at) | ((Rsvp.waitlisted_at == rsvp.waitlisted_at) & (Rsvp.id < rsvp.id)),
        )
    )
    return ahead + 1
