"""Domain models. Imports nothing of web, bots or temporal."""
from soonish.models.base import commit_keeping_loaded, db, lock_for_change, utcnow
from soonish.models.chat_installation import ChatInstallation, OAuthState
from soonish.models.cover import EventCover
from soonish.models.event import Event, EventStatus, Visibility
from soonish.models.integration import Integration, IntegrationState
from soonish.models.integrator import (
    ApiKey, IdempotencyRecord, WebhookAttempt, WebhookEndpoint, WebhookMessage, WebhookMessageStatus,
)
from soonish.models.notification import Delivery, DeliveryStatus, DeliveryTally, Notification, NotificationKind
from soonish.models.pending import PendingChatAction
from soonish.models.rsvp import Rsvp, RsvpAnswer
from soonish.models.series import Series, SeriesFollow, SeriesStatus
from soonish.models.outbox import OutboxItem, OutboxKind
from soonish.models.subscription import (
    DEFAULT_REMINDER_OFFSETS,
    Subscription,
    SubscriptionSelector,
    SubscriptionStatus,
    reminder_offsets_in_use,
)
from soonish.models.user import ChatConnectCode, ChatIdentity, ChatIdentityKind, User

__all__ = [
    "commit_keeping_loaded", "lock_for_change",
    "db", "utcnow", "User", "ChatIdentity", "ChatConnectCode", "IntegrationState", "ChatIdentityKind", "Event", "EventStatus", "Visibility", "Integration",
    "Subscription", "SubscriptionSelector", "SubscriptionStatus", "reminder_offsets_in_use", "DEFAULT_REMINDER_OFFSETS",
    "Notification", "NotificationKind", "Delivery", "DeliveryStatus", "DeliveryTally",
    "IdempotencyRecord", "ApiKey", "WebhookEndpoint", "WebhookMessage", "WebhookMessageStatus", "WebhookAttempt",
    "Rsvp", "RsvpAnswer", "PendingChatAction",
    "OutboxItem", "OutboxKind", "EventCover", "ChatInstallation", "OAuthState", "Series", "SeriesFollow", "SeriesStatus",
]
