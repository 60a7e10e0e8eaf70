"""Recipient planning: who a notification goes to, through which targets, and the message each
target gets. Runs inside the app context.

A notification's recipients are cut into batches of subscription-id ranges (``batch_ranges``);
``prepare_batch`` then claims a ledger row per (subscription, target) of one range and plans
a send for each row still pending.
"""
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from ..crypto import FieldCipher
from ..links import event_path
from ..messages import NotificationText
from ..models import (
    ChatIdentity, DeliveryStatus, Event, Integration, Notification, Subscription, SubscriptionSelector,
    SubscriptionStatus, User, db,
)
from ..models.integration import channel_of
from ..routing import Target, targets_for
from . import ledger, reminders
from .mail import absolute_url, recipient_links
from .types import ChatAddress, Destination, Message

EMAIL_CHANNEL = "email"


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


def recipient_ids(notification: Notification) -> list[int]:
    """The active subscriptions this notification goes to, by id, in order."""
    query = select(Subscription.id, Subscription.reminder_offsets).where(
        Subscription.event_id == notification.event_id,
        Subscription.status == SubscriptionStatus.ACTIVE,
    )
    if notification.subscription_id is not None:
        query = query.where(Subscription.id == notification.subscription_id)
    return [
        subscription_id
        for subscription_id, offsets in db.session.execute(query.order_by(Subscription.id))
        if reminders.is_recipient(notification, offsets)
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


def prepare_batch(notification_id: int, first_id: int, last_id: int, cipher: FieldCipher) -> BatchPlan:
    """Claim a ledger row per (subscription, target) of subscriptions ``first_id``..``last_id``
    and plan a send for each one not yet sent. Commits."""
    notification = db.session.get(Notification, notification_id)
    if notification is None:
        return BatchPlan([])
    event = db.session.get(Event, notification.event_id)
    if not reminders.notification_stands(notification, event):
        return BatchPlan([])
    subscriptions = _subscriptions(notification, first_id, last_id)
    integrations = _integrations_of(subscriptions)
    targets = {s.id: targets_for(s, integrations.get(s.user_id, [])) for s in subscriptions}
    integration_by_id = {i.id: i for owned in integrations.values() for i in owned}
    rows = ledger.claim(
        notification.id,
        [(sub_id, t.key, t.channel) for sub_id, sub_targets in targets.items() for t in sub_targets],
        first_id, last_id,
    )
    text = NotificationText.of(notification, event, absolute_url(event_path(event.slug)))
    by_id = {s.id: s for s in subscriptions}
    planned, skipped = [], []
    for row in rows:
        if row.status != DeliveryStatus.PENDING:
            continue
        target = next((t for t in targets.get(row.subscription_id, []) if t.key == row.target), None)
        if target is None:
            skipped.append(row.id)
            continue
        planned.append(_plan(row.id, target, by_id[row.subscription_id], text, integration_by_id, cipher))
    ledger.mark_skipped(skipped)
    plan = BatchPlan(planned, sum(row.status == DeliveryStatus.SENT for row in rows),
                     reminders.notification_due(notification, event))
    # Nothing loaded is needed after this: let the commit skip expiring every object.
    db.session.expunge_all()
    db.session.commit()
    return plan


@dataclass(frozen=True)
class Recipient:
    """What planning reads of a subscriber's account (plain values, no ORM object)."""

    id: int
    email: str | None
    password_hash: str | None


@dataclass(frozen=True)
class Selector:
    integration_id: int | None
    tag: str | None
    chat_identity_id: int | None
    chat_identity: ChatIdentity | None


@dataclass
class PlannedSubscription:
    """A subscription as planning reads it: what ``targets_for`` and ``recipient_links`` use.
    Read with plain selects: building ORM objects (subscription, user, selectors) was most of
    a batch's prepare time (about 0.5 ms a recipient)."""

    id: int
    event_id: int
    user_id: int
    reminder_offsets: list[int] | None
    user: Recipient
    selectors: list[Selector]


@dataclass(frozen=True)
class IntegrationRow:
    """An integration as planning reads it: what ``targets_for`` and ``_plan`` use."""

    id: int
    user_id: int
    is_active: bool
    tag: str
    channel: str
    apprise_url_encrypted: bytes


def _subscriptions(notification: Notification, first_id: int, last_id: int) -> list[PlannedSubscription]:
    query = (
        select(Subscription.id, Subscription.event_id, Subscription.user_id, Subscription.reminder_offsets,
               User.email, User.password_hash)
        .join(User, User.id == Subscription.user_id)
        .where(
            Subscription.event_id == notification.event_id,
            Subscription.status == SubscriptionStatus.ACTIVE,
            Subscription.id.between(first_id, last_id),
        )
        .order_by(Subscription.id)
    )
    if notification.subscription_id is not None:
        query = query.where(Subscription.id == notification.subscription_id)
    subscriptions = [
        PlannedSubscription(row.id, row.event_id, row.user_id, row.reminder_offsets,
                            Recipient(row.user_id, row.email, row.password_hash), [])
        for row in db.session.execute(query)
        if reminders.is_recipient(notification, row.reminder_offsets)
    ]
    by_id = {s.id: s for s in subscriptions}
    selectors = db.session.execute(
        select(SubscriptionSelector.subscription_id, SubscriptionSelector.integration_id,
               SubscriptionSelector.tag, SubscriptionSelector.chat_identity_id)
        .join(Subscription, Subscription.id == SubscriptionSelector.subscription_id)
        .where(Subscription.event_id == notification.event_id,
               SubscriptionSelector.subscription_id.between(first_id, last_id))
        .order_by(SubscriptionSelector.id)
    ).all()
    identity_ids = {row.chat_identity_id for row in selectors if row.chat_identity_id is not None}
    identities = (
        {i.id: i for i in db.session.scalars(select(ChatIdentity).where(ChatIdentity.id.in_(identity_ids)))}
        if identity_ids else {}
    )
    for row in selectors:
        if row.subscription_id in by_id:
            by_id[row.subscription_id].selectors.append(
                Selector(row.integration_id, row.tag, row.chat_identity_id, identities.get(row.chat_identity_id)))
    return subscriptions


def _integrations_of(subscriptions: list[PlannedSubscription]) -> dict[int, list[IntegrationRow]]:
    """The integrations of every user whose subscription has selectors, by user id."""
    user_ids = {s.user_id for s in subscriptions if s.selectors}
    by_user: dict[int, list[IntegrationRow]] = {}
    if user_ids:
        query = select(Integration.id, Integration.user_id, Integration.is_active, Integration.tag,
                       Integration.url_mask, Integration.apprise_url_encrypted).where(Integration.user_id.in_(user_ids))
        for row in db.session.execute(query):
            by_user.setdefault(row.user_id, []).append(IntegrationRow(
                row.id, row.user_id, row.is_active, row.tag, channel_of(row.url_mask), row.apprise_url_encrypted))
    return by_user


def chat_address(identity: ChatIdentity) -> ChatAddress:
    return ChatAddress(identity.platform, identity.external_user_id, identity.is_channel)


def _plan(delivery_id: int, target: Target, subscription: PlannedSubscription, text: NotificationText,
          integrations: dict[int, IntegrationRow], cipher: FieldCipher) -> PlannedSend:
    key = ledger.delivery_key(delivery_id)
    chat_platform = None
    if target.email:
        destination = Destination(email=target.email)
    elif target.chat_identity_id is not None:
        identity = next(s.chat_identity for s in subscription.selectors if s.chat_identity_id == target.chat_identity_id)
        destination = Destination(chat=chat_address(identity))
        chat_platform = destination.chat.platform
    else:
        integration = integrations[target.integration_id]
        destination = Destination(apprise_url=cipher.decrypt(integration.apprise_url_encrypted))
    as_mail = target.channel == EMAIL_CHANNEL
    links = recipient_links(subscription, target.email if text.rsvp_event_id else None) if as_mail else None
    message = text.message(key, links, as_mail, chat_platform)
    return PlannedSend(delivery_id, target.channel, destination, message)
