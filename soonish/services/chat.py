"""Chat identities: who a Slack or Discord account (or channel) is in Soonish, and joining one
with an email's account when its owner proves the address."""
from dataclasses import dataclass

from flask import current_app
from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError

from ..chat_markup import PLATFORM_NAMES, PLATFORMS
from ..links import LinkInvalid, LinkPurpose, unsign
from ..field_limits import DISPLAY_NAME_MAX
from ..models import (
    ChatIdentity, ChatIdentityKind, Delivery, Event, Integration, Notification, Subscription,
    SubscriptionSelector, SubscriptionStatus, User, db,
)
from ..temporal.shared import TransactionalMail
from .accounts import find_user_by_email, normalize_email
from .errors import Conflict, NotFound, ValidationFailed
from .temporal import reminders_changed, send_one_off_mail


def identity_for(platform: str, workspace_id: str, external_id: str, kind: str = ChatIdentityKind.USER,
                 display_name: str = "") -> ChatIdentity:
    """The identity of a chat account (or channel), made with its own user the first time."""
    if platform not in PLATFORMS:
        raise ValidationFailed.field("platform", f"Unknown chat platform {platform!r}.")
    query = select(ChatIdentity).where(
        ChatIdentity.platform == platform, ChatIdentity.workspace_id == workspace_id,
        ChatIdentity.external_user_id == external_id,
    )
    identity = db.session.scalar(query)
    if identity is not None:
        return identity
    name = display_name.strip()[:DISPLAY_NAME_MAX] or f"{PLATFORM_NAMES[platform]} {kind}"
    identity = ChatIdentity(platform=platform, workspace_id=workspace_id, external_user_id=external_id,
                            kind=kind, user=User(display_name=name))
    db.session.add(identity)
    try:
        db.session.commit()
    except IntegrityError:
        # The same person's first two commands raced: the other one made it.
        db.session.rollback()
        identity = db.session.scalar(query)
    return identity


def route_to(identity: ChatIdentity) -> dict:
    """The selector that delivers a subscription to this identity (a DM, or the channel)."""
    return {"chat_identity_id": identity.id}


def request_link(identity: ChatIdentity, email: str) -> str:
    """Mail ``email`` a link that joins this chat account with that address's account."""
    address = normalize_email(email)
    if identity.user.email is not None:
        raise Conflict(f"This {PLATFORM_NAMES[identity.platform]} account is already linked to {identity.user.email}.")
    send_one_off_mail(TransactionalMail("link", identity.id, address), "link mail")
    return address


@dataclass
class LinkRequest:
    identity: ChatIdentity
    email: str


def link_request(token: str) -> LinkRequest:
    """What a link mail asks for; the link alone changes nothing (mail scanners open links)."""
    try:
        identity_id, email = unsign(current_app.config["SECRET_KEY"], LinkPurpose.LINK_CHAT, token,
                                    current_app.config["CONFIRM_LINK_MAX_AGE"])
    except LinkInvalid as exc:
        raise NotFound("This link has expired; ask the bot for a new one." if exc.expired else "This link is not valid.") from exc
    except (TypeError, ValueError) as exc:
        raise NotFound("This link is not valid.") from exc
    identity = db.session.get(ChatIdentity, identity_id)
    if identity is None:
        raise NotFound("This chat account is no longer known.")
    return LinkRequest(identity, email)


def complete_link(token: str) -> User:
    """Join the chat identity's user with the address's account (the address is proven by the
    mail). With no account yet, the chat user takes the address."""
    request = link_request(token)
    chat_user = request.identity.user
    account = find_user_by_email(request.email)
    folded_events: set[int] = set()
    if account is None:
        if chat_user.email is not None and chat_user.email != request.email:
            raise Conflict(f"This chat account is already linked to {chat_user.email}.")
        chat_user.email = request.email
        account = chat_user
    elif account.id != chat_user.id:
        folded_events = merge_users(keep=account, absorb=chat_user)
    account.is_verified = True
    db.session.commit()
    # Folding subscriptions may change which reminder offsets an event uses.
    for event in db.session.scalars(select(Event).where(Event.id.in_(folded_events))):
        reminders_changed(event)
    return account


def _same_route(selector: SubscriptionSelector) -> tuple:
    return selector.integration_id, selector.tag, selector.chat_identity_id


def _copy_routes(into: Subscription, source: Subscription) -> None:
    have = {_same_route(s) for s in into.selectors}
    for selector in source.selectors:
        if _same_route(selector) not in have:
            into.selectors.append(SubscriptionSelector(
                integration_id=selector.integration_id, tag=selector.tag,
                chat_identity_id=selector.chat_identity_id,
            ))


def _fold_subscription(kept: Subscription, absorbed: Subscription) -> None:
    """Two subscriptions to one event become ``kept``. The account's choices win; a live
    subscription beats a pending or cancelled one; chat routes join explicit routes. (An account
    that reads the event by email keeps reading it by email.)"""
    if absorbed.status == SubscriptionStatus.ACTIVE and kept.status != SubscriptionStatus.ACTIVE:
        kept.status = SubscriptionStatus.ACTIVE
        kept.confirmed_at = absorbed.confirmed_at
        kept.reminder_offsets = list(absorbed.reminder_offsets)
        kept.selectors = []
        _copy_routes(kept, absorbed)
    elif absorbed.status == SubscriptionStatus.ACTIVE and kept.selectors:
        _copy_routes(kept, absorbed)
    # Its ledger rows and its own welcome go with it: the kept subscription has its own.
    db.session.execute(delete(Delivery).where(Delivery.subscription_id == absorbed.id))
    db.session.execute(delete(Notification).where(Notification.subscription_id == absorbed.id))
    db.session.delete(absorbed)


def merge_users(keep: User, absorb: User) -> set[int]:
    """Fold ``absorb`` into ``keep``: subscriptions (one per event), integrations, chat
    identities, organized events and authored notifications move; ``absorb`` is deleted.
    The caller commits. Returns the events where two subscriptions became one."""
    folded_events: set[int] = set()
    kept_by_event = {
        s.event_id: s for s in db.session.scalars(select(Subscription).where(Subscription.user_id == keep.id))
    }
    for subscription in db.session.scalars(select(Subscription).where(Subscription.user_id == absorb.id)).all():
        kept = kept_by_event.get(subscription.event_id)
        if kept is None:
            subscription.user_id = keep.id
        else:
            _fold_subscription(kept, subscription)
            folded_events.add(kept.event_id)
    db.session.flush()
    for model, column in ((Integration, Integration.user_id), (ChatIdentity, ChatIdentity.user_id),
                          (Event, Event.organizer_id), (Notification, Notification.author_id)):
        db.session.execute(update(model).where(column == absorb.id).values({column: keep.id}),
                           execution_options={"synchronize_session": False})
    keep.display_name = keep.display_name or absorb.display_name
    feed_token = absorb.calendar_token
    if keep.calendar_token is None and feed_token is not None:
        absorb.calendar_token = None
        db.session.flush()  # the token is unique: free it before it moves
        keep.calendar_token = feed_token
    db.session.flush()
    db.session.execute(delete(User).where(User.id == absorb.id))
    db.session.expire_all()
    return folded_events
