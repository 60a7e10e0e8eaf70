"""Web Push requests: "Notify me on this device" (the browser's subscription becomes a channel
used for that follow, for anyone, signed in or not), stopping it from the same browser, and the
answer a push notification's button sends (RSVP or still-coming, by a signed single-use token).

A device nobody signed in on belongs to a user with no email and no password: its endpoint,
which only the browser and its push service know, is what finds it again."""
from flask import current_app

from soonish.domain import outbox, push
from soonish.models import (
    DEFAULT_REMINDER_OFFSETS, NOT_FOLLOWING, Event, Integration, SeriesFollow, Subscription, SubscriptionSelector, SubscriptionStatus,
    User, UniqueKeyTaken, db, utcnow,
)
from soonish.services import rsvp, webhook_endpoints
from soonish.services import series as series_service
from soonish.services.errors import Conflict, NotFound, ServiceError, Unavailable, ValidationFailed
from soonish.services.events import get_visible_event
from soonish.services.integrations import cipher
from soonish.services.notifications import welcome
from soonish.services.subscriptions import _find, _require_open
from soonish.i18n import _l


def public_key() -> str:
    """The VAPID public key browsers subscribe with (their ``applicationServerKey``)."""
    private_key = current_app.config["VAPID_PRIVATE_KEY"]
    if not private_key:
        raise Unavailable(_l("Notifications on this device are not set up on this server."))
    return push.vapid_public_key(private_key)


def _checked(raw) -> push.PushSubscription:
    try:
        return push.check_subscription(raw, bool(current_app.config["ALLOW_PRIVATE_TARGETS"]))
    except push.SubscriptionRefused as exc:
        raise ValidationFailed.field(exc.field, exc.message) from exc


def follow_on_device(user: User | None, raw_subscription, user_agent: str, event_id: int | None = None,
                     slug: str | None = None) -> tuple[Subscription, Integration, bool]:
    """Follow the event on this browser: its subscription becomes (or is found as) a push
    channel, and the follow routes to it. Returns the subscription, the device and whether the
    follow just became active. Anonymous: the device's own user follows; signed in: the person."""
    public_key()  # refused before anything is written when push is not set up
    subscription_info = _checked(raw_subscription)
    event = get_visible_event(user, event_id=event_id, slug=slug)
    _require_open(event)
    try:
        return _follow(user, event, subscription_info, user_agent)
    except UniqueKeyTaken:
        # The same browser's other request made the device (or the follow) first: use it.
        db.session.rollback()
        return _follow(user, event, subscription_info, user_agent)


def _device(user: User | None, info: push.PushSubscription, user_agent: str) -> Integration:
    """This browser's channel, made the first time (for the person signed in, or a user of its
    own), flushed but not committed."""
    device = push.find_device(info.endpoint)
    if device is None:
        owner = user or User(email=None)
        device = Integration(user=owner, name=push.device_label(user_agent)[:80], url_mask=push.mask(info),
                             push_endpoint_hash=push.endpoint_hash(info.endpoint))
        db.session.add(device)
    elif user is not None and device.user_id != user.id:
        device.user = user  # whoever holds the browser now: the endpoint proves the device
    # The browser may have renewed its keys; the newest subscription is the one that works.
    device.push_subscription_encrypted = cipher().encrypt(info.to_json())
    device.is_active = True
    db.session.flush()
    return device


def _follow(user: User | None, event: Event, info: push.PushSubscription, user_agent: str):
    device = _device(user, info, user_agent)
    owner = device.user
    subscription = _find(event.id, owner.id)
    if subscription is None:
        subscription = Subscription(event=event, user=owner, reminder_offsets=list(DEFAULT_REMINDER_OFFSETS),
                                    status=SubscriptionStatus.PENDING, selectors=[])
        db.session.add(subscription)
    elif subscription.status in NOT_FOLLOWING:
        subscription.selectors = []
        subscription.reminder_offsets = list(DEFAULT_REMINDER_OFFSETS)
    if all(selector.integration_id != device.id for selector in subscription.selectors):
        subscription.selectors.append(SubscriptionSelector(integration_id=device.id))
    newly_active = subscription.status != SubscriptionStatus.ACTIVE
    subscription.status = SubscriptionStatus.ACTIVE
    subscription.confirmed_at = subscription.confirmed_at or utcnow()
    if newly_active:
        outbox.reminders_changed(event)
        db.session.flush()
        welcome(subscription)
        webhook_endpoints.subscription_event("subscription.created", subscription)
    db.session.commit()
    return subscription, device, newly_active


def stop_on_device(endpoint, event_id: int | None = None, slug: str | None = None) -> None:
    """Stop this browser's notifications about the event ("You get notifications here - stop").
    The follow ends when the device was its only route."""
    device = push.find_device(endpoint) if isinstance(endpoint, str) else None
    if device is None:
        raise NotFound(_l("This device gets no notifications here."))
    event = get_visible_event(device.user, event_id=event_id, slug=slug)
    subscription = _find(event.id, device.user_id)
    if subscription is None or subscription.status in NOT_FOLLOWING \
            or all(s.integration_id != device.id for s in subscription.selectors):
        raise NotFound(_l("This device gets no notifications about this event."))
    subscription.selectors = [s for s in subscription.selectors if s.integration_id != device.id]
    stopped = not subscription.selectors
    if stopped:
        subscription.status = SubscriptionStatus.UNSUBSCRIBED
        outbox.reminders_changed(event)
        webhook_endpoints.subscription_event("subscription.cancelled", subscription)
    db.session.commit()


def follow_series_on_device(user: User | None, raw_subscription, user_agent: str,
                            slug: str) -> tuple[SeriesFollow, Integration, bool]:
    """Follow every occurrence of the series on this browser, as ``follow_on_device`` does one
    event: its occurrences made now and later route to the device. Returns the follow, the
    device and whether the follow is new."""
    public_key()
    info = _checked(raw_subscription)
    series_service.get_visible_series(user, slug=slug)  # 404 before a device is made
    try:
        return _follow_series(user, info, user_agent, slug)
    except UniqueKeyTaken:
        db.session.rollback()  # the same browser's other request made the device first
        return _follow_series(user, info, user_agent, slug)


def _follow_series(user: User | None, info: push.PushSubscription, user_agent: str, slug: str):
    device = _device(user, info, user_agent)
    owner = device.user
    series = series_service.get_visible_series(owner, slug=slug)
    existing = series_service.find_follow(owner, series)
    selectors = [dict(item) for item in (existing.selectors or [])] if existing else []
    if all(item.get("integration_id") != device.id for item in selectors):
        selectors.append({"integration_id": device.id})
    # Occurrences followed already keep their own choices (copy_follow): the device joins them.
    for event in series_service.occurrences(series):
        subscription = _find(event.id, owner.id)
        if subscription is not None and subscription.status == SubscriptionStatus.ACTIVE \
                and all(s.integration_id != device.id for s in subscription.selectors):
            subscription.selectors.append(SubscriptionSelector(integration_id=device.id))
    follow, is_new = series_service.follow_series(owner, selectors=selectors, slug=slug)  # commits
    return follow, device, is_new


def stop_series_on_device(endpoint, slug: str) -> None:
    """Stop this browser's notifications about the series: the follow ends when the device was
    its only route (the occurrences' follows with it)."""
    device = push.find_device(endpoint) if isinstance(endpoint, str) else None
    if device is None:
        raise NotFound(_l("This device gets no notifications here."))
    series = series_service.get_visible_series(device.user, slug=slug)
    follow = series_service.find_follow(device.user, series)
    if follow is None or all(item.get("integration_id") != device.id for item in follow.selectors or []):
        raise NotFound(_l("This device gets no notifications about this series."))
    rest = [dict(item) for item in follow.selectors if item.get("integration_id") != device.id]
    if rest:
        # The occurrences followed already stop routing here too (committed with the follow).
        for event in series_service.occurrences(series):
            subscription = _find(event.id, device.user_id)
            if subscription is not None:
                subscription.selectors = [s for s in subscription.selectors if s.integration_id != device.id]
        series_service.follow_series(device.user, selectors=rest, slug=slug)
    else:
        series_service.unfollow_series(device.user, slug=slug)


def answer(token, choice) -> str:
    """A notification button's answer; the token works once. Returns the answer recorded."""
    config = current_app.config
    try:
        claim = push.read_answer_token(config["SECRET_KEY"], token, int(config["PUSH_ANSWER_MAX_AGE"]))
    except push.AnswerRefused as exc:
        raise ValidationFailed.field("token", exc.message) from exc
    user, event = db.session.get(User, claim.user_id), db.session.get(Event, claim.event_id)
    if user is None or event is None:
        raise NotFound(_l("This event no longer exists."))
    allowed = dict(push.STILL_COMING_ACTIONS if claim.still_coming else push.RSVP_ACTIONS)
    if choice not in allowed:
        raise ValidationFailed.field("answer", _l("Answer one of: %(choices)s.", choices=", ".join(allowed)))
    try:
        push.claim_answer(claim)
    except push.AnswerRefused as exc:
        raise Conflict(exc.message, {"token": ["used"]}) from exc
    # The claim commits with the answer; an answer refused (closed, nothing to confirm) leaves
    # the token unused.
    try:
        recorded = rsvp.still_coming(user, event, choice) if claim.still_coming else rsvp.answer(user, event, choice)
    except ServiceError:
        db.session.rollback()
        raise
    return recorded.answer.value
