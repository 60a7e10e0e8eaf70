"""Domain models. Imports nothing of web, bots or temporal."""
from .base import commit_keeping_loaded, db, lock_for_change, utcnow
from .cover import EventCover
from .event import Event, EventStatus, Visibility
from .integration import Integration, IntegrationState
from .mail_reputation import BounceKind, MailBounce, SuppressedAddress
from .integrator import (
    ApiKey, IdempotencyRecord, WebhookAttempt, WebhookEndpoint, WebhookMessage, WebhookMessageStatus,
)
from .notification import Delivery, DeliveryStatus, DeliveryTally, Notification, NotificationKind
from .pending import PendingChatAction
from .rsvp import Rsvp, RsvpAnswer
from .series import Series, SeriesFollow, SeriesStatus
from .outbox import OutboxItem, OutboxKind
from .subscription import (
    DEFAULT_REMINDER_OFFSETS,
    Subscription,
    SubscriptionSelector,
    SubscriptionStatus,
    reminder_offsets_in_use,
)
from .user import ChatConnectCode, ChatIdentity, ChatIdentityKind, User

__all__ = [
    "commit_keeping_loaded", "lock_for_change",
    "db", "utcnow", "User", "ChatIdentity", "ChatConnectCode", "IntegrationState", "ChatIdentityKind", "Event", "EventStatus", "Visibility", "Integration",
    "Subscription", "SubscriptionSelector", "SubscriptionStatus", "reminder_offsets_in_use", "DEFAULT_REMINDER_OFFSETS",
    "Notification", "NotificationKind", "Delivery", "DeliveryStatus", "DeliveryTally",
    "IdempotencyRecord", "ApiKey", "WebhookEndpoint", "WebhookMessage", "WebhookMessageStatus", "WebhookAttempt",
    "Rsvp", "RsvpAnswer", "PendingChatAction",
    "OutboxItem", "OutboxKind", "BounceKind", "MailBounce", "SuppressedAddress", "EventCover", "Series", "SeriesFollow", "SeriesStatus",
]
