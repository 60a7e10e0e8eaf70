"""Recipient planning: who a notification goes to, through which targets, and the message each
target gets. Runs inside the app context.

A notification's recipients are cut into batches of subscription-id ranges (``batch_ranges``);
``prepare_batch`` then claims a ledger row per (subscription, target) of one range and plans
a send for each row still pending, in its reader's language (``messages.reader_locale``): the
notification is rendered once per language among them (``Texts``), not once per reader.

A chat DM that fails for good (DMs closed, the account gone) falls back once to the person's
verified email (``fall_back_to_email``): a ledger row of its own (target ``FALLBACK_TARGET``),
claimed in the transaction that records the DM's failure, so the mail goes out once however
often the batch runs, and never the other way round.
"""
from collections import Counter
from dataclasses import dataclass, replace
from datetime import datetime

from flask import current_app
from sqlalchemy import and_, select
from sqlalchemy.orm import joinedload, selectinload

from soonish.domain.chat_markup import ChatPlatform
from soonish.config import slack_runs
from soonish.crypto import FieldCipher
from soonish.domain import chat_installations, mail_reputation
from soonish.domain.push import PushAnswer, PushSubscription, answer_token
from soonish.links import event_path
from soonish.domain.messages import NotificationText, reader_locale
from soonish.models import (
    ChatIdentity, Delivery, DeliveryStatus, Event, Integration, Notification, NotificationKind, Subscription,
    SubscriptionSelector,
    SubscriptionStatus, User, db, insert_ignoring_duplicates,
)
from soonish.domain.delivery.routing import Target, targets_for
from soonish.domain.delivery import ledger, reminders
from soonish.domain.delivery.mail import absolute_url, new_event_links, recipient_links, series_followers
from soonish.domain.delivery.pacing import MAIL_SERVER
from soonish.domain.delivery.transports import Failed
from soonish.domain.delivery.types import ChatAddress, Destination
from soonish.domain.messages import Message

EMAIL_CHANNEL = "email"
# The ledger target of a chat DM's message mailed to the person instead.
FALLBACK_TARGET = "fallback:email"
FELL_BACK = "fell back to email"
# Ids in one IN (...) list: under SQLite's bound-parameter limit.
IDS_PER_QUERY = 900


@dataclass
class PlannedSend:
    delivery_id: int
    channel: str
    destination: Destination
    message: Message


@dataclass
class BatchPlan:
    sends: list[PlannedSend]
    already_sent: int = 0
    due: datetime | None = None  # when a reminder was due (None for anything else)
    held_elsewhere: int = 0  # pending sends an older attempt of the batch is still sending (ledger.Claim)


def _recipients_of(notification: Notification):
    """Whose subscriptions a notification goes to: the active ones; a community's new-event
    message, to those its fan-out made (told or following), and no one else."""
    if notification.kind == NotificationKind.COMMUNITY_EVENT:
        return and_(Subscription.event_id == notification.event_id, Subscription.community_follow_id.is_not(None),
                    Subscription.status.in_([SubscriptionStatus.ACTIVE, SubscriptionStatus.SUGGESTED]))
    return and_(Subscription.event_id == notification.event_id, Subscription.status == SubscriptionStatus.ACTIVE)


def recipient_ids(notification: Notification) -> list[int]:
    """The subscriptions this notification goes to, by id, in order."""
    query = select(Subscription.id, Subscription.user_id, Subscription.reminder_offsets).where(
        _recipients_of(notification))
    if notification.subscription_id is not None:
        query = query.where(Subscription.id == notification.subscription_id)
    going = reminders.going_users(notification)
    return [
        subscription_id
        for subscription_id, user_id, offsets in db.session.execute(query.order_by(Subscription.id))
        if reminders.is_recipient(notification, offsets, user_id in going)
    ]


def chunks(ids: list[int], size: int) -> list[list[int]]:
    return [ids[i : i + size] for i in range(0, len(ids), size)]


def batch_ranges(ids: list[int], size: int) -> list[tuple[int, int]]:
    """Sorted ids cut into (first id, last id) ranges of at most ``size`` ids each."""
    return [(chunk[0], chunk[-1]) for chunk in chunks(ids, size)]


def plan_notification(notification_id: int, batch_size: int) -> list[tuple[int, int]]:
    """The batches of one notification's recipients (none when it is gone)."""
    notification = db.session.get(Notification, notification_id)
    return batch_ranges(recipient_ids(notification), batch_size) if notification is not None else []


def prepare_batch(notification_id: int, first_id: int, last_id: int, cipher: FieldCipher,
                  fence: int | None = None) -> BatchPlan:
    """Claim a ledger row per (subscription, target) of subscriptions ``first_id``..``last_id``
    and plan a send for each one not yet sent (for a batch attempt, its ``fence``: none a newer
    attempt of the batch took, nor one an older attempt is still sending). Commits."""
    notification = db.session.get(Notification, notification_id)
    if notification is None:
        return BatchPlan([])
    event = db.session.get(Event, notification.event_id)
    if not reminders.notification_stands(notification, event) or notification.paused_at is not None:
        return BatchPlan([])  # a paused broadcast's rest waits for its organizer to resume it
    subscriptions = _subscriptions(notification, first_id, last_id)
    integrations = _integrations_of(subscriptions)
    targets = {s.id: targets_for(s, integrations.get(s.user_id, [])) for s in subscriptions}
    integration_by_id = {i.id: i for owned in integrations.values() for i in owned}
    bots = workspace_bots([sel.chat_identity for s in subscriptions for sel in s.selectors if sel.chat_identity], cipher)
    claim = ledger.claim(
        notification.id,
        [(sub_id, t.key, t.channel) for sub_id, sub_targets in targets.items() for t in sub_targets],
        first_id, last_id, fence,
    )
    texts = Texts(notification, event)
    by_id = {s.id: s for s in subscriptions}
    planned, skipped = [], []
    for row in claim.rows:
        if row.status != DeliveryStatus.PENDING:
            continue
        if row.target == FALLBACK_TARGET:  # claimed when the DM failed; not sent yet (a crash, a retry)
            subscription = by_id.get(row.subscription_id)
            if subscription is None or _no_fallback(subscription.user):
                skipped.append(row.id)
            else:
                planned.append(_plan_fallback(row.id, subscription, notification.id, texts))
            continue
        target = next((t for t in targets.get(row.subscription_id, []) if t.key == row.target), None)
        if target is None:
            skipped.append(row.id)
            continue
        planned.append(_plan(row.id, target, by_id[row.subscription_id], texts, integration_by_id, bots, cipher))
    ledger.mark_skipped(skipped)
    planned = _without_suppressed(planned)
    plan = BatchPlan(planned, sum(row.status == DeliveryStatus.SENT for row in claim.rows),
                     reminders.notification_due(notification, event), claim.held_elsewhere)
    # Nothing loaded is needed after this: let the commit skip expiring every object.
    db.session.expunge_all()
    db.session.commit()
    return plan


def _without_suppressed(planned: list[PlannedSend]) -> list[PlannedSend]:
    """The mails among ``planned`` to addresses on the suppression list are not sent: their rows
    say why (the organizer's "Who got it" shows it)."""
    reasons = mail_reputation.suppressed(send.destination.email for send in planned if send.destination.email)
    if not reasons:
        return planned
    ledger.mark_suppressed({send.delivery_id: reasons[send.destination.email]
                            for send in planned if send.destination.email in reasons})
    return [send for send in planned if send.destination.email not in reasons]


class Texts:
    """A notification's text in each language its readers read, each rendered once, at its
    first reader (and its mail, chat and short forms once each within it: ``NotificationText``)."""

    def __init__(self, notification: Notification, event: Event) -> None:
        self.notification, self.event = notification, event
        self.event_url = absolute_url(event_path(event.slug))
        self.chats = _chats_running()
        self.welcomed = (db.session.get(Subscription, notification.subscription_id)
                         if notification.subscription_id is not None else None)
        self.by_locale: dict[str, NotificationText] = {}
        self._series_followers: set[int] | None = None

    def series_followers(self) -> set[int]:
        """Who follows the event's series as a series (their mails offer to leave it whole): one
        query for the batch, not one per mail."""
        if self._series_followers is None:
            self._series_followers = series_followers(self.event.series_id)
        return self._series_followers

    def in_locale(self, locale: str) -> NotificationText:
        if locale not in self.by_locale:
            self.by_locale[locale] = NotificationText.of(self.notification, self.event, self.event_url, self.chats,
                                                         locale, self.welcomed)
        return self.by_locale[locale]

    def for_reader(self, subscription: Subscription, identity: ChatIdentity | None = None) -> NotificationText:
        return self.in_locale(reader_locale(subscription, identity))


def _chats_running() -> tuple[str, ...]:
    """The chat platforms whose bot is configured: where a welcome may offer to follow instead."""
    config = current_app.config
    running = {ChatPlatform.SLACK: slack_runs(config), ChatPlatform.DISCORD: bool(config["DISCORD_BOT_TOKEN"])}
    return tuple(platform.display_name for platform, runs in running.items() if runs)


def fallback_delivery_key(notification_id: int, user_id: int) -> str:
    """The fallback mail's own key (its Message-ID): one per notification and person."""
    return f"soonish-{notification_id}-{user_id}-fallback"


def _no_fallback(user: User) -> str | None:
    """Why ``user`` gets no fallback mail, or None when they do."""
    if not user.email_fallback:
        return "email fallback is turned off"
    if user.erased_at is not None or not user.email or not user.is_verified:
        return "no verified email to fall back to"
    return None


def _plan_fallback(delivery_id: int, subscription: Subscription, notification_id: int, texts: Texts) -> PlannedSend:
    address = subscription.user.email
    text = texts.for_reader(subscription)
    links = _links(texts, text, subscription, address)
    message = text.message(fallback_delivery_key(notification_id, subscription.user_id), links, True)
    return PlannedSend(delivery_id, EMAIL_CHANNEL, Destination(email=address), message)


def _links(texts: Texts, text: NotificationText, subscription: Subscription, address: str):
    """The links of one recipient's mail: a community's new-event message carries the
    community follow's; every other message the subscription's (and its RSVP page's)."""
    if text.community:
        return new_event_links(subscription)
    return recipient_links(subscription, address if text.rsvp_event_id else None, texts.series_followers())


def _dm_failed_for_good(send: PlannedSend, outcome: ledger.SendOutcome) -> bool:
    """A chat DM that failed for good, or a person's device whose subscription is gone."""
    chat, failed = send.destination.chat, outcome.outcome
    if not isinstance(failed, Failed):
        return False
    return (chat is not None and not chat.is_channel and failed.permanent) or (
        send.destination.push is not None and failed.gone)


def gone_devices(sends: list[tuple[PlannedSend, ledger.SendOutcome]]) -> list[str]:
    """The push endpoints among ``sends`` whose push service said the subscription is gone."""
    return [send.destination.push.endpoint for send, outcome in sends
            if send.destination.push is not None and isinstance(outcome.outcome, Failed) and outcome.outcome.gone]


def fall_back_to_email(sends: list[tuple[PlannedSend, ledger.SendOutcome]],
                       fence: int | None = None) -> list[PlannedSend]:
    """For each chat DM among ``sends`` that failed for good (or device that is gone): claim a ledger row that mails the
    message to the person's verified email instead, and plan that mail; the DM's recorded
    reason says it fell back (or why it could not). Only the rows this call creates are planned:
    one mail per notification and person, however many of their DMs failed. Leaves the
    session's transaction open for ``ledger.record`` to commit with the DMs' outcomes. The
    rows are fenced to the attempt (``fence``) that claims them."""
    failed = [outcome for send, outcome in sends if _dm_failed_for_good(send, outcome)]
    if not failed:
        return []
    deliveries = {
        d.id: d for d in db.session.scalars(
            select(Delivery).where(Delivery.id.in_([o.delivery_id for o in failed]))
            .options(joinedload(Delivery.subscription).joinedload(Subscription.user))
        )
    }
    texts: dict[int, Texts] = {}
    planned = []
    for outcome in failed:
        delivery = deliveries[outcome.delivery_id]
        subscription = delivery.subscription
        refused = _no_fallback(subscription.user)
        outcome.outcome = replace(outcome.outcome, reason=f"{outcome.reason}; {refused or FELL_BACK}", permanent=True)
        if refused:
            continue
        claimed = db.session.execute(insert_ignoring_duplicates(Delivery.__table__), {
            "notification_id": delivery.notification_id, "subscription_id": subscription.id,
            "target": FALLBACK_TARGET, "channel": EMAIL_CHANNEL, "fence": fence,
        })
        if not claimed.rowcount:
            continue  # another DM of theirs fell back already
        fallback_id = db.session.scalar(select(Delivery.id).where(
            Delivery.notification_id == delivery.notification_id, Delivery.subscription_id == subscription.id,
            Delivery.target == FALLBACK_TARGET,
        ))
        if delivery.notification_id not in texts:
            notification = db.session.get(Notification, delivery.notification_id)
            texts[notification.id] = Texts(notification, db.session.get(Event, notification.event_id))
        planned.append(_plan_fallback(fallback_id, subscription, delivery.notification_id, texts[delivery.notification_id]))
    return _without_suppressed(planned)


def sends_per_budget(subscription_ids: list[int]) -> Counter[str]:
    """How many sends these subscriptions' targets make to our mail server (pacing.MAIL_SERVER)
    and to each HTTP host ("host:<name>", from the channel's mask: no secret decrypted). The
    budgets a large reminder fills; chat platforms' budgets are not counted."""
    sends: Counter[str] = Counter()
    for chunk in chunks(subscription_ids, IDS_PER_QUERY):
        subscriptions = list(db.session.scalars(
            select(Subscription).where(Subscription.id.in_(chunk))
            .options(joinedload(Subscription.user), selectinload(Subscription.selectors))
        ))
        integrations = _integrations_of(subscriptions)
        by_id = {i.id: i for owned in integrations.values() for i in owned}
        for subscription in subscriptions:
            for target in targets_for(subscription, integrations.get(subscription.user_id, [])):
                if target.channel == EMAIL_CHANNEL:
                    sends[MAIL_SERVER] += 1
                elif target.integration_id is not None:
                    sends[f"host:{by_id[target.integration_id].url_mask.split('://', 1)[-1].lower()}"] += 1
    return sends


def _subscriptions(notification: Notification, first_id: int, last_id: int) -> list[Subscription]:
    query = (
        select(Subscription)
        .where(_recipients_of(notification), Subscription.id.between(first_id, last_id))
        .options(
            joinedload(Subscription.user),
            selectinload(Subscription.selectors).joinedload(SubscriptionSelector.chat_identity),
        )
    )
    if notification.subscription_id is not None:
        query = query.where(Subscription.id == notification.subscription_id)
    going = reminders.going_users(notification)
    return [s for s in db.session.scalars(query)
            if reminders.is_recipient(notification, s.reminder_offsets, s.user_id in going)]


def _integrations_of(subscriptions: list[Subscription]) -> dict[int, list[Integration]]:
    """The integrations of every user whose subscription has selectors, by user id."""
    user_ids = {s.user_id for s in subscriptions if s.selectors}
    by_user: dict[int, list[Integration]] = {}
    if user_ids:
        for integration in db.session.scalars(select(Integration).where(Integration.user_id.in_(user_ids))):
            by_user.setdefault(integration.user_id, []).append(integration)
    return by_user


def chat_address(identity: ChatIdentity, bots: dict[tuple[str, str], chat_installations.WorkspaceBot]) -> ChatAddress:
    """Where our bot posts for ``identity``, with the token of its workspace's installation
    (``bots``: from ``workspace_bots``)."""
    bot = bots.get((identity.platform, identity.workspace_id), chat_installations.WorkspaceBot())
    return ChatAddress(identity.platform, identity.external_user_id, identity.is_channel,
                       identity.workspace_id, bot.token, bot.removed)


def workspace_bots(identities: list[ChatIdentity], cipher: FieldCipher) -> dict[tuple[str, str], chat_installations.WorkspaceBot]:
    return chat_installations.workspace_bots({(i.platform, i.workspace_id) for i in identities}, cipher)


def integration_destination(integration: Integration, cipher: FieldCipher) -> Destination:
    """An email channel goes through our SMTP like the follower's own address, a device through
    its push service; any other channel through Apprise."""
    if integration.email_address is not None:
        return Destination(email=integration.email_address)
    if integration.is_push:
        return Destination(push=PushSubscription.from_json(cipher.decrypt(integration.push_subscription_encrypted)))
    return Destination(apprise_url=cipher.decrypt(integration.apprise_url_encrypted))


def _plan(delivery_id: int, target: Target, subscription: Subscription, texts: Texts,
          integrations: dict[int, Integration], bots: dict, cipher: FieldCipher) -> PlannedSend:
    key = ledger.delivery_key(delivery_id)
    chat_platform = identity = None
    if target.email:
        destination = Destination(email=target.email)
    elif target.chat_identity_id is not None:
        identity = next(s.chat_identity for s in subscription.selectors if s.chat_identity_id == target.chat_identity_id)
        destination = Destination(chat=chat_address(identity, bots))
        chat_platform = destination.chat.platform
    else:
        destination = integration_destination(integrations[target.integration_id], cipher)
    text = texts.for_reader(subscription, identity)
    as_mail = target.channel == EMAIL_CHANNEL
    links = _links(texts, text, subscription, target.email) if as_mail else None
    # In chat, the button follows the event for whoever presses it: a told follower in their DM,
    # or anyone in a channel (the channel's own follow is not theirs).
    offer_follow = identity is not None and (identity.is_channel or subscription.status == SubscriptionStatus.SUGGESTED)
    message = text.message(key, links, as_mail, chat_platform, offer_follow)
    if destination.push is not None and (text.rsvp_event_id or text.still_coming):
        answer = PushAnswer(delivery_id, subscription.event_id, subscription.user_id, text.still_coming)
        message = replace(message, answer_token=answer_token(current_app.config["SECRET_KEY"], answer))
    return PlannedSend(delivery_id, target.channel, destination, message)
