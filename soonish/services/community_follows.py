"""Following a community: from its page (an account in one click, an address by double opt-in
as events are followed), the API and chat; the links in its mails (confirm, manage, one-click
unfollow); and the one-tap "follow this event" in its new-event messages. The rules are
soonish/domain/community_follows.py; this validates, authorizes and commits once."""
from flask import current_app
from sqlalchemy import func, select
from sqlalchemy import update as sql_update
from sqlalchemy.orm import joinedload

from soonish.domain import outbox
from soonish.domain.community_follows import MODE_LABELS
from soonish.domain.delivery.mail import OneOffKind
from soonish.links import LinkInvalid, LinkPurpose, sign, unsign
from soonish.models import (
    Community, CommunityFollow, FollowMode, Subscription, SubscriptionStatus, User, UniqueKeyTaken, db, utcnow,
)
from soonish.services import webhook_endpoints
from soonish.services.accounts import find_user_by_email, normalize_email
from soonish.domain.communities import Action
from soonish.domain.privacy import mask_address
from soonish.services.communities import community_of_member, community_page
from soonish.services.notifications import follower_label
from soonish.services.errors import Gone, NotFound, ValidationFailed
from soonish.i18n import _l
from soonish.services.pagination import Page, keyset_page
from soonish.services.subscriptions import _require_open, _selectors, _transition

MODES = [mode.value for mode in FollowMode]


def mode_of(value: str | FollowMode) -> FollowMode:
    try:
        return FollowMode(value)
    except ValueError:
        raise ValidationFailed.field("mode", _l("Choose one of: %(choices)s.", choices=", ".join(MODES))) from None


def followable(slug: str | None = None, community_id: int | None = None) -> Community:
    """A community anyone may follow: one whose page is shown (see ``community_page``)."""
    if slug is None:
        community = db.session.get(Community, community_id) if community_id is not None else None
        if community is None:
            raise NotFound(_l("No such community."))
        slug = community.slug
    return community_page(slug).community


def find(user: User, community: Community) -> CommunityFollow | None:
    return db.session.scalar(select(CommunityFollow).where(
        CommunityFollow.community_id == community.id, CommunityFollow.user_id == user.id))


def find_following(user: User | None, community: Community) -> CommunityFollow | None:
    """``user``'s follow of ``community`` while it lasts (pending or active)."""
    if user is None or not user.is_authenticated:
        return None
    follow = find(user, community)
    return None if follow is None or follow.status == SubscriptionStatus.UNSUBSCRIBED else follow


def _new_follow(community: Community, user: User, mode: FollowMode, status: SubscriptionStatus) -> CommunityFollow:
    """A follow row made once: of two first follows at once, the second finds the first's."""
    try:
        with db.session.begin_nested():
            follow = CommunityFollow(community_id=community.id, user_id=user.id, mode=mode, status=status, selectors=[])
            db.session.add(follow)
            db.session.flush()
        return follow
    except UniqueKeyTaken:
        return find(user, community)


def follow(user: User, community: Community, mode: str | FollowMode = FollowMode.NEW_EVENTS,
           selectors: list[dict] | None = None) -> tuple[CommunityFollow, bool]:
    """Follow ``community`` as a signed-in account (or a chat channel's), with ``mode``;
    following again changes the mode (and, given, where messages go). Returns the follow and
    whether it just began."""
    chosen_mode = mode_of(mode)
    routes = [_route(s) for s in _selectors(user, selectors)] if selectors is not None else None
    existing = find(user, community)
    follow = existing or _new_follow(community, user, chosen_mode, SubscriptionStatus.ACTIVE)
    began = existing is None or existing.status != SubscriptionStatus.ACTIVE
    if existing is not None and existing.status == SubscriptionStatus.UNSUBSCRIBED:
        follow.selectors = []  # following again is a fresh act
    follow.mode = chosen_mode
    if routes is not None:
        follow.selectors = routes
    follow.status = SubscriptionStatus.ACTIVE
    follow.confirmed_at = follow.confirmed_at or utcnow()
    db.session.commit()
    return follow, began


def _route(selector) -> dict:
    return {name: value for name, value in (
        ("integration_id", selector.integration_id), ("tag", selector.tag),
        ("chat_identity_id", selector.chat_identity_id)) if value is not None}


def follow_by_email(community: Community, email: str, mode: str | FollowMode = FollowMode.NEW_EVENTS) -> CommunityFollow:
    """Follow with an address alone: a pending follow and a confirm mail, as an event's follow
    by email. Nothing but that one mail goes to the address before its owner clicks the link."""
    chosen_mode = mode_of(mode)
    address = normalize_email(email)
    user = find_user_by_email(address)
    existing = find(user, community) if user is not None else None
    if existing is not None and existing.status == SubscriptionStatus.ACTIVE:
        return existing  # the form proves no address: an active follow's mode stays as its owner chose
    if user is None:
        user = User(email=address)
        db.session.add(user)
        db.session.flush()
    follow = existing or _new_follow(community, user, chosen_mode, SubscriptionStatus.PENDING)
    follow.mode, follow.status = chosen_mode, SubscriptionStatus.PENDING
    outbox.one_off_mail(OneOffKind.COMMUNITY_FOLLOW, follow.id)
    db.session.commit()
    return follow


def _unsigned(token: str, purpose: str, max_age: int | None = None) -> int:
    try:
        value = unsign(current_app.config["SECRET_KEY"], purpose, token, max_age)
    except LinkInvalid as exc:
        if exc.expired:
            raise Gone(_l("Confirm links only work for a while. Follow the community again and we'll send you a fresh one.")) from exc
        raise NotFound(_l("This link is not valid.")) from exc
    if not isinstance(value, int) or isinstance(value, bool):
        raise NotFound(_l("This link is not valid."))
    return value


def _follow(follow_id: int) -> CommunityFollow:
    follow = db.session.get(CommunityFollow, follow_id)
    if follow is None:
        raise NotFound(_l("This follow no longer exists."))
    return follow


def confirm(token: str) -> CommunityFollow:
    """Activate the follow a confirm link names; confirming twice is harmless. One conditional
    update: of two clicks at once, one activates it."""
    follow = _follow(_unsigned(token, LinkPurpose.CONFIRM_COMMUNITY_FOLLOW, current_app.config["CONFIRM_LINK_MAX_AGE"]))
    if follow.status == SubscriptionStatus.PENDING:
        _change_status(follow, SubscriptionStatus.ACTIVE, confirmed_at=utcnow())
        follow.user.is_verified = True  # the link proved the address
    db.session.commit()
    return follow


def _change_status(follow: CommunityFollow, to: SubscriptionStatus, **values) -> bool:
    changed = db.session.execute(
        sql_update(CommunityFollow).where(CommunityFollow.id == follow.id, CommunityFollow.status == follow.status)
        .values(status=to, **values).execution_options(synchronize_session=False)).rowcount
    if changed:
        db.session.refresh(follow, ["status", *values])
    return bool(changed)


def from_manage_token(token: str) -> CommunityFollow:
    """The follow a manage/unfollow link in a community's mail names (these don't expire)."""
    return _follow(_unsigned(token, LinkPurpose.MANAGE_COMMUNITY_FOLLOW))


def manage_token(follow: CommunityFollow) -> str:
    return sign(current_app.config["SECRET_KEY"], LinkPurpose.MANAGE_COMMUNITY_FOLLOW, follow.id)


def change_mode(follow: CommunityFollow, mode: str | FollowMode) -> CommunityFollow:
    if follow.status == SubscriptionStatus.UNSUBSCRIBED:
        raise NotFound(_l("You no longer follow this community; follow it again from its page."))
    follow.mode = mode_of(mode)
    db.session.commit()
    return follow


def unfollow(follow: CommunityFollow) -> CommunityFollow:
    """Stop following: nothing more about its new events. Events already followed through it
    stay followed (each one's own mails leave it)."""
    if follow.status != SubscriptionStatus.UNSUBSCRIBED:
        _change_status(follow, SubscriptionStatus.UNSUBSCRIBED)
    db.session.commit()
    return follow


# An account's follows, for the API ---------------------------------------------------------------


def mine_page(user: User, limit: int, cursor: str | None) -> Page:
    query = select(CommunityFollow).where(CommunityFollow.user_id == user.id,
                                          CommunityFollow.status != SubscriptionStatus.UNSUBSCRIBED)
    return keyset_page(query, CommunityFollow.id, CommunityFollow.id, limit, cursor)


def followers_page(actor: User, community_id: int, limit: int, cursor: str | None) -> tuple[Community, Page]:
    """Who follows the community (active follows, oldest first) and how, a page at a time; for
    its owners and admins (a host or announcer is refused, a stranger finds no community)."""
    community = community_of_member(actor, community_id, Action.SEE_FOLLOWERS)
    query = (select(CommunityFollow).where(CommunityFollow.community_id == community.id,
                                           CommunityFollow.status == SubscriptionStatus.ACTIVE)
             .options(joinedload(CommunityFollow.user)))
    return community, keyset_page(query, CommunityFollow.id, CommunityFollow.id, limit, cursor)


def follower_name(follow: CommunityFollow) -> str:
    """How the community's team sees a follower: as an event's organizer sees theirs (a name, or
    the address masked), since followers trusted Soonish with their address, not the team."""
    return follower_label(follow.user)


def follower_address(follow: CommunityFollow) -> str | None:
    return None if follow.user.erased_at is not None else mask_address(follow.user.email)


def own_follow(user: User, community_id: int) -> CommunityFollow:
    follow = db.session.scalar(select(CommunityFollow).where(
        CommunityFollow.community_id == community_id, CommunityFollow.user_id == user.id,
        CommunityFollow.status != SubscriptionStatus.UNSUBSCRIBED))
    if follow is None:
        raise NotFound(_l("You don't follow this community."))
    return follow


def follower_count(community: Community) -> int:
    return db.session.scalar(select(func.count()).select_from(CommunityFollow).where(
        CommunityFollow.community_id == community.id, CommunityFollow.status == SubscriptionStatus.ACTIVE)) or 0


def mode_label(follow: CommunityFollow) -> str:
    return MODE_LABELS[follow.mode]


# The one-tap "follow this event" -----------------------------------------------------------------


def suggested(token: str) -> Subscription:
    """The subscription a community's new-event message offers to make active; reading it
    changes nothing (mail scanners open links)."""
    subscription = db.session.get(Subscription, _unsigned(token, LinkPurpose.FOLLOW_SUGGESTED))
    if subscription is None:
        raise NotFound(_l("This event can no longer be followed from here."))
    return subscription


def follow_suggested(token: str) -> Subscription:
    """Follow the event a community's new-event message told of: its suggested subscription
    becomes active (one conditional update, so two taps follow once). Tapping again, or after
    following otherwise, is harmless."""
    subscription = suggested(token)
    if subscription.status == SubscriptionStatus.ACTIVE:
        return subscription
    _require_open(subscription.event)
    if _transition(subscription, SubscriptionStatus.ACTIVE, confirmed_at=utcnow()):
        outbox.reminders_changed(subscription.event)
        webhook_endpoints.subscription_event("subscription.created", subscription)
    db.session.commit()
    return subscription
