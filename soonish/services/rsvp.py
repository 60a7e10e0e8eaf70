"""RSVPs: going / maybe / can't go, from every front door (web, mail link, chat, API), with
an optional capacity whose waitlist is offered each freed place in turn."""
import csv
import io
from dataclasses import dataclass
from datetime import datetime

from flask import current_app
from sqlalchemy import func, select
from sqlalchemy.orm import selectinload

from soonish.domain import outbox, waitlist
from soonish.field_limits import CAPACITY_MAX
from soonish.links import LinkInvalid, LinkPurpose, carries_address, unsign
from soonish.models import (
    DEFAULT_REMINDER_OFFSETS, Event, EventStatus, Rsvp, RsvpAnswer, Subscription, SubscriptionSelector,
    SubscriptionStatus, User, db, utcnow,
)
from soonish.services.accounts import find_user_by_email
from soonish.services.concurrency import rerun_if_changed_meanwhile
from soonish.services.errors import Conflict, NotFound, ValidationFailed, reading_link
from soonish.services import webhook_endpoints
from soonish.domain.communities import Action
from soonish.services.events import get_event_for_organizer
from soonish.services.notifications import follower_label, welcome
from soonish.services.pagination import Page, keyset_page
from soonish.i18n import _l

# What people may answer, as typed in chat, sent by the API, or posted by a button.
CHOICES = {"going": RsvpAnswer.GOING, "maybe": RsvpAnswer.MAYBE, "no": RsvpAnswer.NOT_GOING}
# Lazy: each said in the reader's language where it is shown.
CHOICE_LABELS = {"going": _l("Going"), "maybe": _l("Maybe"), "no": _l("Can't go")}
# The still-coming check's answers (mail links, chat buttons): "confirm" keeps the person going.
CONFIRM = "confirm"
STILL_COMING_LABELS = {CONFIRM: _l("Yes, still coming"), "no": _l("Can't make it")}
ANSWER_LABELS = {
    RsvpAnswer.GOING: _l("Going"), RsvpAnswer.MAYBE: _l("Maybe"), RsvpAnswer.NOT_GOING: _l("Can't go"),
    RsvpAnswer.WAITLISTED: _l("On the waitlist"),
}


@dataclass(frozen=True)
class RsvpCounts:
    going: int
    confirmed: int  # of those going, who said "yes" to the still-coming check for the current start
    maybe: int
    not_going: int
    waitlisted: int
    no_answer: int | None  # active followers who haven't answered (None: not counted)
    capacity: int | None
    places_held: int  # offered to someone on the waitlist, not taken yet: not free

    @property
    def places_left(self) -> int | None:
        return waitlist.places_left(self.capacity, self.going, self.places_held)

    def as_dict(self) -> dict:
        return {"going": self.going, "confirmed": self.confirmed, "maybe": self.maybe, "no": self.not_going,
                "waitlisted": self.waitlisted, "no_answer": self.no_answer, "capacity": self.capacity,
                "places_held": self.places_held, "places_left": self.places_left}


@dataclass(frozen=True)
class RsvpRow:
    id: int  # the answer's: it stays when the person changes their answer
    follower: str  # display name, or the masked address
    answer: str  # the value the API takes (going, maybe, no) or waitlisted
    answer_label: str  # as pages show it
    answered_at: datetime

    @classmethod
    def of(cls, rsvp: Rsvp) -> "RsvpRow":
        return cls(rsvp.id, follower_label(rsvp.user), rsvp.answer.value, str(ANSWER_LABELS[rsvp.answer]), rsvp.answered_at)


def parse_choice(choice: str | None) -> RsvpAnswer:
    value = CHOICES.get((choice or "").strip().lower())
    if value is None:
        raise ValidationFailed.field("answer", _l("Answer going, maybe or no."))
    return value


def check_open(event: Event, field: str = "answer") -> None:
    """Answers may change until the start, on scheduled events that take RSVPs. ``field``: the
    request's field that asked for an answer, which the refusal names."""
    if not event.rsvp_enabled:
        raise Conflict(_l("This event doesn't take RSVPs."), {field: ["RSVPs are off for this event."]})
    if event.status == EventStatus.CANCELLED:
        raise Conflict(_l("This event is cancelled; there is nothing to answer."), {field: ["cancelled"]})
    if event.status != EventStatus.SCHEDULED or event.starts_at <= utcnow():
        raise Conflict(_l("This event has started or is over; answers are closed."), {field: ["closed"]})


def is_open(event: Event) -> bool:
    try:
        check_open(event)
    except Conflict:
        return False
    return True


def find(event: Event, user: User) -> Rsvp | None:
    # As stored now, also when loaded earlier in the request: after ``waitlist.lock_event`` this
    # is what the answer is decided on.
    return db.session.scalar(select(Rsvp).where(Rsvp.event_id == event.id, Rsvp.user_id == user.id)
                             .execution_options(populate_existing=True))


def answer(user: User, event: Event, choice: str, listed: bool | None = None,
           route: dict | None = None) -> Rsvp:
    """Record ``user``'s answer. "going" on a full event joins the waitlist (or takes the place
    offered to them); leaving "going" frees a place for the waitlist. Going is one act with
    following: someone going who doesn't follow the event yet follows it now (with ``route``,
    a chat selector, or their account's email), so they get the reminders and the still-coming
    check. ``listed``: whether their name may show among those going (None: unchanged)."""
    value = parse_choice(choice)
    check_open(event)
    waitlist.lock_event(event)
    free = waitlist.free_places(event)  # before this answer is in the session (autoflush)
    rsvp = find(event, user)
    if rsvp is None:
        rsvp = Rsvp(event_id=event.id, user_id=user.id, answer=value)
        db.session.add(rsvp)
        previous = None
    else:
        previous = rsvp.answer
    if listed is not None:
        rsvp.listed = listed
    newly_following = _follow_when_going(event, user, route) if value == RsvpAnswer.GOING else None
    frees_place = previous == RsvpAnswer.GOING or (rsvp.offer_expires_at is not None)
    if value == RsvpAnswer.GOING:
        if previous == RsvpAnswer.GOING:
            _announce_follow(newly_following)
            db.session.commit()
            return rsvp
        if rsvp.offer_expires_at is not None and rsvp.offer_expires_at > utcnow():
            value = RsvpAnswer.GOING  # takes the place held for them
        elif previous == RsvpAnswer.WAITLISTED:
            value = RsvpAnswer.WAITLISTED  # keeps their place in line
        elif free == 0:
            value = RsvpAnswer.WAITLISTED
        frees_place = False
    rsvp.answer = value
    rsvp.still_coming_for = None  # a new "going" is confirmed by its own check
    if value == RsvpAnswer.WAITLISTED:
        rsvp.waitlisted_at = rsvp.waitlisted_at or utcnow()
    else:
        rsvp.waitlisted_at = None
        rsvp.offer_expires_at = None
    rsvp.answered_at = utcnow()
    _announce_follow(newly_following)
    if frees_place:
        offer_free_places(event)
    if rsvp.answer != previous:
        db.session.flush()  # the message names the answer's id
        webhook_endpoints.rsvp_changed(rsvp, previous, follower_label(user))
    db.session.commit()
    return rsvp


def _follow_when_going(event: Event, user: User, route: dict | None) -> Subscription | None:
    """Make ``user`` an active follower of ``event`` unless they are one: default reminders,
    delivered to ``route`` or their account. The welcome and the reminder sync are outbox rows
    in the answer's transaction. Returns the subscription if it just became active."""
    subscription = db.session.scalar(
        select(Subscription).where(Subscription.event_id == event.id, Subscription.user_id == user.id)
    )
    if subscription is not None and subscription.status == SubscriptionStatus.ACTIVE:
        return None
    if subscription is None:
        subscription = Subscription(event_id=event.id, user_id=user.id, selectors=[])
        db.session.add(subscription)
    # Following again after leaving is a fresh act: the old choices do not come back.
    subscription.selectors = [SubscriptionSelector(**route)] if route else []
    subscription.reminder_offsets = list(DEFAULT_REMINDER_OFFSETS)
    subscription.status = SubscriptionStatus.ACTIVE
    subscription.confirmed_at = subscription.confirmed_at or utcnow()
    db.session.flush()
    outbox.reminders_changed(event)
    welcome(subscription)
    return subscription


def _announce_follow(subscription: Subscription | None) -> None:
    if subscription is not None:
        webhook_endpoints.subscription_event("subscription.created", subscription)


def _nothing_to_confirm() -> Conflict:
    return Conflict(_l("You're not down as going, so there is nothing to confirm; answer on the event's page."),
                    {"answer": ["not going"]})


def still_coming(user: User, event: Event, choice: str) -> Rsvp:
    """An answer to the still-coming check: "confirm" keeps the person going and records it
    for this start time (the organizer counts the confirmed); "no" frees their place for the
    waitlist, as any "can't go" does."""
    choice = (choice or "").strip().lower()
    if choice not in STILL_COMING_LABELS:
        raise ValidationFailed.field("answer", _l("Answer confirm (still coming) or no (can't make it)."))
    if choice != CONFIRM:
        return answer(user, event, choice)
    check_open(event)
    rsvp = find(event, user)
    if rsvp is None or rsvp.answer != RsvpAnswer.GOING:
        raise _nothing_to_confirm()
    rsvp.still_coming_for = event.starts_at
    db.session.commit()
    return rsvp


def offer_free_places(event: Event) -> list[int]:
    """Offer each free place to the next on the waitlist, in the caller's transaction (the
    caller commits); each offer's workflow, started from the outbox, tells them and times it.
    Returns the waitlisted answers offered a place."""
    # Temporal down: the place stays held and the page shows the offer; only the message and
    # the expiry wait in the outbox (the organizer sees the held place in the counts).
    offers = waitlist.claim_offers(event, int(current_app.config["RSVP_OFFER_SECONDS"]))
    return [rsvp_id for rsvp_id, _ in offers]


@rerun_if_changed_meanwhile
def set_capacity(actor: User, event_id: int, capacity: int | None, enabled: bool = True,
                 show_guest_list: bool | None = None) -> Event:
    """The organizer turns RSVPs on or off, sets (or lifts) the number of places, and shows or
    hides those going who agreed to be shown (None: unchanged)."""
    event = get_event_for_organizer(actor, event_id)
    if capacity is not None and (isinstance(capacity, bool) or not isinstance(capacity, int)
                                 or not 1 <= capacity <= CAPACITY_MAX):
        raise ValidationFailed.field(
            "capacity", _l("Capacity must be a whole number from 1 to %(count)s (or empty for no limit).",
                           count=CAPACITY_MAX))
    event.rsvp_enabled = bool(enabled)
    event.capacity = capacity
    if show_guest_list is not None:
        event.show_guest_list = show_guest_list
    offer_free_places(event)
    db.session.commit()
    return event


def counts(event: Event, with_no_answer: bool = True) -> RsvpCounts:
    """The answers' counts. ``no_answer`` (None without ``with_no_answer``) counts the active
    followers who haven't answered: the organizer's figure, and the costly one, since it reads
    every subscription (a visitor's page view of a 10,000-follower event skips it)."""
    tally = waitlist.tally(event)
    by_answer = tally.by_answer
    confirmed = db.session.scalar(select(func.count()).select_from(Rsvp).where(
        Rsvp.event_id == event.id, Rsvp.answer == RsvpAnswer.GOING, Rsvp.still_coming_for == event.starts_at,
    )) if event.still_coming_check else 0
    no_answer = None
    if with_no_answer:
        answered = select(Rsvp.user_id).where(Rsvp.event_id == event.id)
        no_answer = db.session.scalar(
            select(func.count()).select_from(Subscription).where(
                Subscription.event_id == event.id, Subscription.status == SubscriptionStatus.ACTIVE,
                Subscription.user_id.not_in(answered),
            )
        )
    return RsvpCounts(
        going=by_answer.get(RsvpAnswer.GOING, 0), confirmed=confirmed, maybe=by_answer.get(RsvpAnswer.MAYBE, 0),
        not_going=by_answer.get(RsvpAnswer.NOT_GOING, 0), waitlisted=by_answer.get(RsvpAnswer.WAITLISTED, 0),
        no_answer=no_answer, capacity=event.capacity, places_held=tally.held,
    )


def listed_guests(event: Event, limit: int) -> list[User]:
    """Some of those going who agreed to be shown, first answers first (one query)."""
    return list(db.session.scalars(
        select(User).join(Rsvp, Rsvp.user_id == User.id)
        .where(Rsvp.event_id == event.id, Rsvp.answer == RsvpAnswer.GOING, Rsvp.listed.is_(True),
               User.display_name != "", User.erased_at.is_(None))
        .order_by(Rsvp.id).limit(limit)
    ))


def organizer_counts(actor: User, event_id: int) -> RsvpCounts:
    return counts(get_event_for_organizer(actor, event_id, Action.SEE_DELIVERIES))


def roster(actor: User, event_id: int) -> list[RsvpRow]:
    """Who answered what, for the organizer: going first, then the waitlist in its order."""
    event = get_event_for_organizer(actor, event_id, Action.SEE_DELIVERIES)
    order = {RsvpAnswer.GOING: 0, RsvpAnswer.WAITLISTED: 1, RsvpAnswer.MAYBE: 2, RsvpAnswer.NOT_GOING: 3}
    rows = db.session.scalars(select(Rsvp).where(Rsvp.event_id == event.id))
    ordered = sorted(rows, key=lambda r: (order[r.answer], r.waitlisted_at or r.answered_at, r.id))
    return [RsvpRow.of(r) for r in ordered]


def roster_page(actor: User, event_id: int, limit: int, cursor: str | None) -> Page:
    """Who answered what, a page at a time, in the order people first answered (by the answer's
    id, which a change of answer keeps): a cursor stays right while answers come in and change."""
    event = get_event_for_organizer(actor, event_id, Action.SEE_DELIVERIES)
    query = select(Rsvp).where(Rsvp.event_id == event.id).options(selectinload(Rsvp.user))
    page = keyset_page(query, Rsvp.id, Rsvp.id, limit, cursor)
    return Page([RsvpRow.of(r) for r in page.items], page.next_cursor)


def roster_csv(actor: User, event_id: int) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["id", "follower", "answer", "answer_label", "answered_at"])
    for row in roster(actor, event_id):
        # A leading = + - @ would make a spreadsheet run the cell as a formula.
        name = "'" + row.follower if row.follower[:1] in "=+-@" else row.follower
        writer.writerow([row.id, name, row.answer, row.answer_label, row.answered_at.isoformat()])
    return out.getvalue()


# Mail links ------------------------------------------------------------------------------

@dataclass
class LinkAnswer:
    event: Event
    email: str
    user: User | None  # None: an old link's address that has no account yet
    current: Rsvp | None


def from_link(token: str) -> LinkAnswer:
    """What an answer link names; opening it changes nothing (mail scanners open links)."""
    secret = current_app.config["SECRET_KEY"]
    with reading_link(_l("This link has expired; answer on the event's page instead.")):
        event_id, *addressee = unsign(secret, LinkPurpose.RSVP, token, current_app.config["RSVP_LINK_MAX_AGE"])
        user, email = _addressee(secret, addressee)
    event = db.session.get(Event, event_id)
    if event is None:
        raise NotFound(_l("This event no longer exists."))
    return LinkAnswer(event, email, user, find(event, user) if user else None)


def _addressee(secret: str, addressee: list) -> tuple[User | None, str]:
    """Whom an answer link was mailed to: the user id and their address' tag it carries (the
    address must still be theirs), or, in a link mailed before those, the address itself."""
    if len(addressee) == 1:
        (email,) = addressee
        if not isinstance(email, str):
            raise ValueError("not an address")
        return find_user_by_email(email), email
    user_id, tag = addressee
    user = db.session.get(User, user_id)
    if user is None or not carries_address(secret, tag, user.email):
        raise ValueError("not this user's link")
    return user, user.email


def answer_from_link(token: str, choice: str) -> Rsvp:
    """The answer link's confirm button. "going" from someone not following yet makes them a
    follower by email (as going does everywhere), confirmed by this click: the link went to
    their address."""
    request = from_link(token)
    event = request.event
    parse_choice(choice)
    check_open(event)
    user = request.user
    if user is None:
        user = User(email=request.email)
        db.session.add(user)
        db.session.flush()
    if CHOICES[choice.strip().lower()] == RsvpAnswer.GOING:
        user.is_verified = True  # the link went to their address
    return answer(user, event, choice)


def still_coming_from_link(token: str, choice: str) -> Rsvp:
    """The still-coming check's confirm button, from its mail link."""
    request = from_link(token)
    if request.user is None:
        raise _nothing_to_confirm()
    return still_coming(request.user, request.event, choice)


def from_offer_token(token: str) -> Rsvp:
    """The waitlist offer an accept link names, while it still holds a place."""
    try:
        rsvp_id, expires = unsign(current_app.config["SECRET_KEY"], LinkPurpose.RSVP_OFFER, token)
    except (LinkInvalid, TypeError, ValueError) as exc:
        raise NotFound(_l("This link is not valid.")) from exc
    rsvp = db.session.get(Rsvp, rsvp_id)
    if rsvp is None:
        raise NotFound(_l("This answer no longer exists."))
    if rsvp.answer == RsvpAnswer.GOING:
        return rsvp
    if rsvp.offer_expires_at is None or rsvp.offer_expires_at.isoformat() != expires or rsvp.offer_expires_at <= utcnow():
        raise Conflict(_l("This offer has expired and the place went to the next person in line."))
    return rsvp


def accept_offer(token: str) -> Rsvp:
    rsvp = from_offer_token(token)
    if rsvp.answer == RsvpAnswer.GOING:
        return rsvp
    return answer(rsvp.user, rsvp.event, "going")
