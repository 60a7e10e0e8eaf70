"""Subscriptions: accounts follow events with selectors; anonymous people follow by email and
confirm by link; everyone can change reminders or leave from any mail."""
from flask import current_app
from sqlalchemy import insert, select
from sqlalchemy import update as sql_update
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import selectinload
from sqlalchemy.orm.attributes import set_committed_value

from soonish.field_limits import DISPLAY_NAME_MAX
from soonish.i18n import shipped, supported
from soonish.links import LinkInvalid, LinkPurpose, read_unverified, sign, unsign
from soonish.models import (
    DEFAULT_REMINDER_OFFSETS, NOT_FOLLOWING, ChatIdentity, Event, EventStatus, Integration, Subscription, SubscriptionSelector,
    SubscriptionStatus, User, Visibility, commit_keeping_loaded, UniqueKeyTaken, db, utcnow,
)
from soonish.domain.delivery.reminders import START_OFFSET
from soonish.domain import outbox
from soonish.services import rsvp as rsvp_service
from soonish.services.accounts import find_user_by_email, normalize_email
from soonish.services import webhook_endpoints
from soonish.services.errors import Gone, NotFound, Unavailable, ValidationFailed, owned_or_missing
from soonish.services.events import can_view, get_visible_event
from soonish.services.notifications import welcome
from soonish.services.offsets import validate_offsets
from soonish.i18n import _l


def _selectors(user: User, raw: list[dict] | None) -> list[SubscriptionSelector]:
    """Validate selectors ({"integration_id": n}, {"tag": "urgent"} or {"chat_identity_id": n})
    as the user's own."""
    if not raw:
        return []
    integrations = list(db.session.scalars(select(Integration).where(Integration.user_id == user.id)))
    own_ids = {i.id for i in integrations}
    own_tags = {i.tag for i in integrations if i.tag}
    own_identities = set(db.session.scalars(select(ChatIdentity.id).where(ChatIdentity.user_id == user.id)))
    selectors = []
    for item in raw:
        integration_id, tag, identity_id = item.get("integration_id"), item.get("tag"), item.get("chat_identity_id")
        if sum(value is not None for value in (integration_id, tag, identity_id)) != 1:
            raise ValidationFailed.field("selectors", _l("Each selector names one integration_id, one tag or one chat_identity_id."))
        if integration_id is not None and integration_id not in own_ids:
            raise ValidationFailed.field("selectors", _l("Channel %(id)s is not one of yours.", id=integration_id))
        if tag is not None and tag not in own_tags:
            raise ValidationFailed.field("selectors", _l("None of your channels has the tag “%(tag)s”.", tag=tag))
        if identity_id is not None and identity_id not in own_identities:
            raise ValidationFailed.field("selectors", _l("Chat account %(id)s is not one of yours.", id=identity_id))
        selectors.append(SubscriptionSelector(integration_id=integration_id, tag=tag, chat_identity_id=identity_id))
    return selectors


def _find(event_id: int, user_id: int) -> Subscription | None:
    return db.session.scalar(
        select(Subscription).where(Subscription.event_id == event_id, Subscription.user_id == user_id)
    )


def _require_open(event: Event) -> None:
    if event.status != EventStatus.SCHEDULED:
        # Whole sentences: a status word dropped into one reads as English in other languages.
        refusal = (_l("This event is cancelled; it can't be followed.") if event.status == EventStatus.CANCELLED
                   else _l("This event is over; it can't be followed."))
        raise ValidationFailed(refusal, {"event": [event.status.value]})


def subscribe(user: User, event_id: int | None = None, selectors: list[dict] | None = None,
              reminder_offsets=None, slug: str | None = None) -> tuple[Subscription, bool]:
    """Follow the event ``event_id`` or ``slug`` names (an unlisted one by its slug, the first
    time) as a signed-in user. Subscribing again is idempotent (it updates the choices given).
    Returns the subscription and whether it just became active."""
    event = get_visible_event(user, event_id=event_id, slug=slug)
    _require_open(event)
    chosen = _selectors(user, selectors) if selectors is not None else None
    offsets = validate_offsets(reminder_offsets) if reminder_offsets is not None else None
    subscription = _find(event.id, user.id)
    if subscription is None:
        subscription = Subscription(event_id=event.id, user_id=user.id, reminder_offsets=list(DEFAULT_REMINDER_OFFSETS))
        db.session.add(subscription)
    elif subscription.status in NOT_FOLLOWING:
        # Following again after leaving (or after being told of it) is a fresh act: the old choices do not come back.
        subscription.selectors = []
        subscription.reminder_offsets = list(DEFAULT_REMINDER_OFFSETS)
    newly_active = subscription.status != SubscriptionStatus.ACTIVE
    if chosen is not None:
        subscription.selectors = chosen
    if offsets is not None:
        subscription.reminder_offsets = offsets
    subscription.status = SubscriptionStatus.ACTIVE
    subscription.confirmed_at = subscription.confirmed_at or utcnow()
    # The workflow hears of it from the outbox, in the same commit: no Temporal call per follow.
    if newly_active or offsets is not None:
        outbox.reminders_changed(event)
    if newly_active:
        db.session.flush()
        welcome(subscription)
        webhook_endpoints.subscription_event("subscription.created", subscription)
    db.session.commit()
    return subscription, newly_active


# SQLite has one writer; on a loaded machine a burst of follows can wait out its 5 s lock
# timeout (seen in bench/follow.py at load 15 on 2 cores). The follow is retried, then refused
# with a 503 that says to try again, never a 500. Two follows of one new address at the same
# instant (a double tap) both find no account and both make one: the second's INSERT breaks
# the unique key once the first has committed, and its retry finds the first's account,
# subscription and confirm mail.
WRITE_RETRIES = 3


def _retried_on_conflict(write):
    """``write()``, again after a race it lost: SQLite's write lock taken, or the same follow
    or address written by a request at the same instant (read again, it is then found)."""
    for attempt in range(WRITE_RETRIES):
        try:
            return write()
        except (OperationalError, IntegrityError) as exc:
            db.session.rollback()
            lost_race = isinstance(exc, UniqueKeyTaken) or (
                isinstance(exc, OperationalError) and "locked" in str(exc.orig))
            if not lost_race:
                raise
            if attempt == WRITE_RETRIES - 1:
                raise Unavailable(_l("Lots of people are following right now; please try again in a moment.")) from exc


def subscribe_by_email(event: Event, email: str, name: str = "", going: bool = False,
                       listed: bool = False, locale: str | None = None) -> Subscription:
    """Follow an event with just an email address: a pending subscription and a confirm mail.
    ``going``: the visitor's "I'm going", answered when they confirm (``listed``: their name may
    show among those going; ``name``: what to call a new address); ``locale``: the language of
    the page they followed on, which their mails are then written in.

    Nothing is ever sent to the address before its owner clicks the link, so this cannot be
    used to sign strangers up for mail (beyond the one confirm mail, which rate limits cap).
    """
    return _retried_on_conflict(lambda: _subscribe_by_email(event, email, name, going, listed, locale))


def _subscribe_by_email(event: Event, email: str, name: str, going: bool, listed: bool,
                        locale: str | None) -> Subscription:
    _require_open(event)
    address = normalize_email(email)
    name = name.strip()
    if len(name) > DISPLAY_NAME_MAX:
        raise ValidationFailed.field("name", _l("Keep the name under %(count)s characters.", count=DISPLAY_NAME_MAX))
    if going:
        rsvp_service.check_open(event, "going")  # "I'm going" to an event that takes no answers is refused, not half-done
    # Everything is read before anything is written: on SQLite the first write takes the
    # database's one write lock, which every other follow then waits for until this commit.
    user = find_user_by_email(address)
    subscription = _find(event.id, user.id) if user is not None else None
    if subscription is not None and subscription.status == SubscriptionStatus.ACTIVE and not going:
        return subscription
    if user is None:
        # Someone else's address can't rename its account: a name is only given to a new one.
        user = _inserted(User, email=address, display_name=name)
    # An active follower's "I'm going" also waits for the link: this form proves no address.
    answer = dict(going_on_confirm=going, listed_on_confirm=going and listed)
    just_made = subscription is None
    if just_made:
        subscription = _inserted(Subscription, event_id=event.id, user_id=user.id, status=SubscriptionStatus.PENDING,
                                 locale=supported(locale), **answer)
        set_committed_value(subscription, "selectors", [])  # none yet: the answer reads them without a query
    else:
        if subscription.status != SubscriptionStatus.ACTIVE:
            subscription.status = SubscriptionStatus.PENDING
        for name, value in answer.items():
            setattr(subscription, name, value)
        subscription.locale = supported(locale) or subscription.locale
    # The confirm mail is an outbox row committed with the subscription: the worker mails it
    # within a second or so, exactly once, and a crash on either side loses nothing.
    outbox.confirm_mail(subscription, just_made)
    commit_keeping_loaded()
    return subscription


def _inserted(model, **values):
    """A new row as an ORM object, by one INSERT ... RETURNING rather than the session's unit of
    work: a burst of follows by email is the web tier's hottest write, and flushing a new user
    and subscription (each relationship's dependency processing) was a fifth of its CPU."""
    return db.session.scalars(insert(model).returning(model), [values]).one()


def confirm(token: str) -> Subscription:
    """Activate the subscription a confirm link names; confirming twice is harmless."""
    subscription_id = _unsign(token, LinkPurpose.CONFIRM, current_app.config["CONFIRM_LINK_MAX_AGE"])
    subscription = db.session.get(Subscription, subscription_id)
    if subscription is None:
        raise NotFound(_l("This subscription no longer exists."))
    going = subscription.going_on_confirm
    if subscription.status == SubscriptionStatus.ACTIVE and not going:
        return subscription
    event = subscription.event
    _require_open(event)
    # One conditional update: of two clicks of the link at once, one makes the follow active
    # and causes its welcome and webhook message.
    newly_active = subscription.status != SubscriptionStatus.ACTIVE and _transition(
        subscription, SubscriptionStatus.ACTIVE, confirmed_at=utcnow())
    if newly_active:
        outbox.reminders_changed(event)
        welcome(subscription)
        webhook_endpoints.subscription_event("subscription.created", subscription)
    subscription.user.is_verified = True  # the link proved the address
    subscription.going_on_confirm = False
    if going and rsvp_service.is_open(event):
        # Their "I'm going", now that the address is theirs: it commits the follow with it
        # (a full event puts them on the waitlist; answers closed meanwhile leave the follow).
        rsvp_service.answer(subscription.user, event, "going", listed=subscription.listed_on_confirm)
    else:
        db.session.commit()
    return subscription


def _transition(subscription: Subscription, to: SubscriptionStatus, **values) -> bool:
    """Move ``subscription`` from the status it was read with to ``to``, in one conditional
    update: of two requests making the same change, one makes it (and causes its effects) and
    the other is told it was made already (False)."""
    changed = db.session.execute(
        sql_update(Subscription).where(Subscription.id == subscription.id, Subscription.status == subscription.status)
        .values(status=to, **values).execution_options(synchronize_session=False)
    ).rowcount
    if changed:
        db.session.refresh(subscription, ["status", *values])
    return bool(changed)


def event_of_confirm_link(token: str) -> Event | None:
    """The event a confirm link that didn't work was about, to offer following it again. An
    expired link's signature still holds, so it names its event for sure; a damaged link's id
    could be anyone's guess, so it names only a public event (never an unlisted one's secret slug)."""
    signed, subscription_id = read_unverified(current_app.config["SECRET_KEY"], LinkPurpose.CONFIRM, token)
    if not isinstance(subscription_id, int) or not 0 < subscription_id < 2**31:  # a database id
        return None
    subscription = db.session.get(Subscription, subscription_id)
    if subscription is None:
        return None
    event = subscription.event
    shown = can_view(None, event, has_link=True) if signed else event.visibility == Visibility.PUBLIC
    return event if shown else None


def from_manage_token(token: str) -> Subscription:
    """The subscription a manage/unsubscribe link in a mail names (these links don't expire)."""
    subscription = db.session.get(Subscription, _unsign(token, LinkPurpose.MANAGE))
    if subscription is None:
        raise NotFound(_l("This subscription no longer exists."))
    return subscription


def answer_by_manage_token(token: str, event_id: int, choice: str, listed: bool | None = None):
    """An email follower's RSVP through the API, with the manage token from their mails (which
    only their address received) standing in for an account's sign-in."""
    subscription = from_manage_token(token)
    if subscription.event_id != event_id:
        raise NotFound(_l("This token is for another event."))
    return rsvp_service.answer(subscription.user, subscription.event, choice, listed=listed)


def manage_token(subscription: Subscription) -> str:
    return sign(current_app.config["SECRET_KEY"], LinkPurpose.MANAGE, subscription.id)


def _unsign(token: str, purpose: str, max_age: int | None = None) -> int:
    try:
        return int(unsign(current_app.config["SECRET_KEY"], purpose, token, max_age))
    except LinkInvalid as exc:
        if exc.expired:  # it was good once: the page leads back to following again
            raise Gone(_l("Confirm links only work for a while. Follow the event again and we'll send you a fresh one.")) from exc
        raise NotFound(_l("This link is not valid.")) from exc
    except (TypeError, ValueError) as exc:
        raise NotFound(_l("This link is not valid.")) from exc


def post_at_start(subscription: Subscription) -> Subscription:
    """A channel following an event also gets the "starting now" message, once per start time:
    a reminder at offset 0 (below what people can choose, so only channels hold it)."""
    if START_OFFSET not in subscription.reminder_offsets:
        subscription.reminder_offsets = [*subscription.reminder_offsets, START_OFFSET]
        if subscription.status == SubscriptionStatus.ACTIVE:
            outbox.reminders_changed(subscription.event)
        db.session.commit()
    return subscription


def unsubscribe(subscription: Subscription) -> Subscription:
    if subscription.status == SubscriptionStatus.UNSUBSCRIBED:
        return subscription
    was_active = subscription.status == SubscriptionStatus.ACTIVE
    # Two clicks of "unsubscribe" at once: one leaves, and tells the organizer once.
    if _transition(subscription, SubscriptionStatus.UNSUBSCRIBED) and was_active:
        outbox.reminders_changed(subscription.event)
        webhook_endpoints.subscription_event("subscription.cancelled", subscription)
    db.session.commit()
    return subscription


def set_offsets(subscription: Subscription, reminder_offsets, locale: str | None = None) -> Subscription:
    """The reminders of a subscription, from its manage page, and with ``locale`` the language
    its messages are written in (one we ship)."""
    if locale is not None and supported(locale) is None:
        raise ValidationFailed.field("locale", _l("Pick one of the languages offered."))
    subscription.reminder_offsets = validate_offsets(reminder_offsets)
    # Choosing the language already read keeps its region (en_GB's dates stay British).
    if locale is not None and (subscription.locale is None or shipped(subscription.locale) != supported(locale)):
        subscription.locale = supported(locale)
    if subscription.status == SubscriptionStatus.ACTIVE:
        outbox.reminders_changed(subscription.event)
    db.session.commit()
    return subscription


def get_own(user: User, subscription_id: int) -> Subscription:
    return owned_or_missing(db.session.get(Subscription, subscription_id), user, "subscription")


def get_following(user: User, subscription_id: int) -> Subscription:
    """``user``'s subscription while it lasts: once left (unsubscribed) it reads as gone (404),
    so the API cannot change or leave it again; following again is a new POST."""
    subscription = get_own(user, subscription_id)
    if subscription.status in NOT_FOLLOWING:
        raise NotFound(_l("No such subscription."))
    return subscription


def update(user: User, subscription_id: int, changes: dict) -> Subscription:
    subscription = get_following(user, subscription_id)
    if "selectors" in changes:
        subscription.selectors = _selectors(user, changes["selectors"])
    if "reminder_offsets" in changes:
        return set_offsets(subscription, changes["reminder_offsets"])
    db.session.commit()
    return subscription


def find_mine(user: User, event: Event) -> Subscription | None:
    """``user``'s subscription to ``event``, pending or active; None if none or left."""
    subscription = _find(event.id, user.id)
    if subscription is None or subscription.status in NOT_FOLLOWING:
        return None
    return subscription


def list_mine(user: User) -> list[Subscription]:
    return list(
        db.session.scalars(
            select(Subscription)
            .where(Subscription.user_id == user.id, Subscription.status.not_in(NOT_FOLLOWING))
            .options(
                selectinload(Subscription.selectors).selectinload(SubscriptionSelector.integration),
                selectinload(Subscription.event),
            )
            .order_by(Subscription.id)
        )
    )


def count_active(event: Event) -> int:
    return db.session.query(Subscription).filter_by(event_id=event.id, status=SubscriptionStatus.ACTIVE).count()
