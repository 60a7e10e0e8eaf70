"""Chat identities: who a Slack or Discord account (or channel) is in Soonish, and joining one
with an account: by mail (`link <email>`, the address proves the account) or by a one-time code
a signed-in person gets on the Channels page and types in chat (`connect ABCD-1234`)."""
import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import delete, select, update

from soonish.config import slack_runs
from soonish.domain.chat_markup import PLATFORM_NAMES, PLATFORMS, ChatPlatform
from soonish.links import LinkPurpose, unsign
from soonish.field_limits import CHAT_NAME_MAX, DISPLAY_NAME_MAX
from soonish.models import (
    ChatConnectCode, ChatIdentity, ChatIdentityKind, Delivery, Event, Integration, Notification, PendingChatAction,
    Subscription, SubscriptionSelector, SubscriptionStatus, User, UniqueKeyTaken, db, utcnow,
)
from soonish.services.accounts import find_user_by_email, normalize_email
from soonish.services.errors import Conflict, Gone, NotFound, ValidationFailed, owned_or_missing, reading_link
from soonish.domain import outbox
from soonish.domain.delivery.mail import OneOffKind
from soonish.i18n import _l

# Connect codes read aloud and typed easily: no 0/O, 1/I/L look-alikes.
CODE_LETTERS = "ABCDEFGHJKMNPQRSTUVWXYZ"
CODE_DIGITS = "23456789"
CODE_PART = 4


def identity_for(platform: str, workspace_id: str, external_id: str, kind: str = ChatIdentityKind.USER,
                 display_name: str = "", workspace_name: str = "", locale: str | None = None) -> ChatIdentity:
    """The identity of a chat account (or channel), made with its own user the first time; how
    the platform names it and its workspace, and the language its messages are written in
    (``locale``, a catalog's name, when known), are kept up to date."""
    if platform not in PLATFORMS:
        raise ValidationFailed.field("platform", _l("Unknown chat platform “%(platform)s”.", platform=platform))
    query = select(ChatIdentity).where(
        ChatIdentity.platform == platform, ChatIdentity.workspace_id == workspace_id,
        ChatIdentity.external_user_id == external_id,
    )
    handle, workspace_name = display_name.strip()[:CHAT_NAME_MAX], workspace_name.strip()[:CHAT_NAME_MAX]
    identity = db.session.scalar(query)
    if identity is not None:
        if ((handle and identity.handle != handle) or (workspace_name and identity.workspace_name != workspace_name)
                or (locale and identity.locale != locale)):
            identity.handle = handle or identity.handle
            identity.workspace_name = workspace_name or identity.workspace_name
            identity.locale = locale or identity.locale
            db.session.commit()
        return identity
    name = display_name.strip()[:DISPLAY_NAME_MAX] or f"{PLATFORM_NAMES[platform]} {kind}"
    identity = ChatIdentity(platform=platform, workspace_id=workspace_id, external_user_id=external_id,
                            kind=kind, user=User(display_name=name), handle=handle, workspace_name=workspace_name,
                            locale=locale)
    db.session.add(identity)
    try:
        db.session.commit()
    except UniqueKeyTaken:
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
        raise Conflict(_l("This %(platform)s account is already linked to %(email)s.", platform=PLATFORM_NAMES[identity.platform], email=identity.user.email))
    outbox.one_off_mail(OneOffKind.LINK, identity.id, address)
    db.session.commit()
    return address


@dataclass
class LinkRequest:
    identity: ChatIdentity
    email: str


def link_request(token: str) -> LinkRequest:
    """What a link mail asks for; the link alone changes nothing (mail scanners open links)."""
    with reading_link(_l("This link has expired; ask the bot for a new one.")):
        identity_id, email = unsign(current_app.config["SECRET_KEY"], LinkPurpose.LINK_CHAT, token,
                                    current_app.config["CONFIRM_LINK_MAX_AGE"])
    identity = db.session.get(ChatIdentity, identity_id)
    if identity is None:
        raise NotFound(_l("This chat account is no longer known."))
    return LinkRequest(identity, email)


def complete_link(token: str) -> User:
    """Join the chat identity's user with the address's account (the address is proven by the
    mail). With no account yet, the chat user takes the address."""
    request = link_request(token)
    chat_user = request.identity.user
    account = find_user_by_email(request.email)
    if account is None:
        if chat_user.email is not None and chat_user.email != request.email:
            raise Conflict(_l("This chat account is already linked to %(email)s.", email=chat_user.email))
        chat_user.email = request.email
        account = chat_user
    account.is_verified = True
    _join(account, chat_user)
    return account


def _join(account: User, chat_user: User) -> None:
    """Fold a chat account's user into ``account`` (nothing when they are one) and commit."""
    folded_events = merge_users(keep=account, absorb=chat_user) if account.id != chat_user.id else set()
    # Folding subscriptions may change which reminder offsets an event uses.
    for event in db.session.scalars(select(Event).where(Event.id.in_(folded_events))):
        outbox.reminders_changed(event)
    db.session.commit()


# Connecting from the web side ---------------------------------------------------------------


def configured_platforms() -> list[ChatPlatform]:
    """The platforms whose bot runs here: only those can be connected."""
    config = current_app.config
    return [platform for platform, running in ((ChatPlatform.SLACK, slack_runs(config)),
                                               (ChatPlatform.DISCORD, config["DISCORD_BOT_TOKEN"])) if running]


@dataclass
class ConnectCode:
    platform: ChatPlatform
    code: str
    expires_at: datetime

    @property
    def command(self) -> str:
        return f"/soonish connect {self.code}"


def _code_hash(code: str) -> str:
    return hashlib.sha256(code.encode()).hexdigest()


def normalize_code(typed: str) -> str:
    """"abcd 1234", "ABCD1234" and "ABCD-1234" are the same code."""
    plain = "".join(ch for ch in typed.upper() if ch.isalnum())
    return f"{plain[:CODE_PART]}-{plain[CODE_PART:]}" if len(plain) == 2 * CODE_PART else plain


def new_connect_code(user: User, platform: str) -> ConnectCode:
    """A one-time code for ``user`` to type in ``platform``'s chat; it replaces their earlier
    unused codes for that platform."""
    if platform not in PLATFORMS:
        raise ValidationFailed.field("platform", _l("Choose one of: %(choices)s.", choices=", ".join(PLATFORMS)))
    platform = ChatPlatform(platform)
    if platform not in configured_platforms():
        raise ValidationFailed.field("platform", _l("There is no %(platform)s bot on this Soonish.", platform=platform.display_name))
    code = (''.join(secrets.choice(CODE_LETTERS) for _ in range(CODE_PART)) + "-"
            + ''.join(secrets.choice(CODE_DIGITS) for _ in range(CODE_PART)))
    expires_at = utcnow() + timedelta(seconds=current_app.config["CHAT_CONNECT_CODE_SECONDS"])
    db.session.execute(delete(ChatConnectCode).where(
        ChatConnectCode.user_id == user.id, ChatConnectCode.platform == platform, ChatConnectCode.used_at.is_(None)))
    db.session.add(ChatConnectCode(user_id=user.id, platform=platform, code_hash=_code_hash(code), expires_at=expires_at))
    db.session.commit()
    return ConnectCode(platform, code, expires_at)


def connect(identity: ChatIdentity, typed: str) -> User:
    """Join the chat account that typed a connect code with the account that asked for it: the
    code proves the account (its owner was signed in), typing it proves the chat account."""
    platform = PLATFORM_NAMES[identity.platform]
    again = _l("Get a new code on the Channels page of Soonish (Connect %(platform)s).", platform=platform)
    row = db.session.scalar(select(ChatConnectCode).where(ChatConnectCode.code_hash == _code_hash(normalize_code(typed))))
    if row is None:
        raise NotFound(_l("I don't know the code “%(code)s”. %(again)s", code=typed, again=again))
    if row.platform != identity.platform:
        raise ValidationFailed(_l("This code is for %(platform)s: type it there, or get a %(here)s code on the "
                                  "Channels page.", platform=PLATFORM_NAMES[row.platform], here=platform))
    if row.used_at is not None:
        raise Conflict(_l("This code was used already; each works once. %(again)s", again=again))
    if row.expires_at <= utcnow():
        raise Gone(_l("This code has expired (codes work for %(minutes)s minutes). %(again)s",
                      minutes=current_app.config["CHAT_CONNECT_CODE_SECONDS"] // 60, again=again))
    account, chat_user = db.session.get(User, row.user_id), identity.user
    if chat_user.id != account.id and chat_user.email is not None:
        raise Conflict(_l("This %(platform)s account is linked to another Soonish account (%(email)s). Remove it "
                          "from that account's Channels page first.", platform=platform, email=chat_user.email))
    # Claimed in one statement: of two people typing the same code at once, one gets it.
    claimed = db.session.execute(update(ChatConnectCode).where(
        ChatConnectCode.id == row.id, ChatConnectCode.used_at.is_(None)).values(used_at=utcnow()))
    if claimed.rowcount != 1:
        db.session.rollback()
        raise Conflict(_l("This code was used already; each works once. %(again)s", again=again))
    _join(account, chat_user)
    return db.session.get(User, account.id)


def connect_code_used(user: User, platform: str) -> bool:
    """Whether ``user``'s latest connect code for ``platform`` has been typed."""
    latest = db.session.scalar(select(ChatConnectCode).where(
        ChatConnectCode.user_id == user.id, ChatConnectCode.platform == platform,
    ).order_by(ChatConnectCode.id.desc()).limit(1))
    return latest is not None and latest.used_at is not None


def linked_identities_query(user: User):
    """The chat accounts that act as ``user``, unordered: their DMs are channels like any other."""
    return select(ChatIdentity).where(ChatIdentity.user_id == user.id, ChatIdentity.kind == ChatIdentityKind.USER)


def linked_identities(user: User) -> list[ChatIdentity]:
    """The chat accounts that act as ``user``, oldest first."""
    return list(db.session.scalars(linked_identities_query(user).order_by(ChatIdentity.id)))


def unlink(user: User, identity_id: int) -> None:
    """Forget a chat account of ``user``'s: its DMs get nothing more (a follow routed only there
    goes back to the account's email). Typing in that chat again starts afresh."""
    identity = owned_or_missing(db.session.get(ChatIdentity, identity_id), user, "chat account")
    if identity.is_channel:
        raise NotFound(_l("No such chat account."))
    db.session.execute(delete(SubscriptionSelector).where(SubscriptionSelector.chat_identity_id == identity.id))
    db.session.execute(delete(PendingChatAction).where(PendingChatAction.chat_identity_id == identity.id))
    db.session.delete(identity)
    db.session.commit()


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
