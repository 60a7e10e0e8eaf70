"""Domain models. Imports nothing of web, bots or temporal."""
from soonish.models.base import (
    UniqueKeyTaken, commit_keeping_loaded, db, insert_ignoring_duplicates, is_unique_violation, lock_for_change, utcnow,
)
from soonish.models.chat_installation import ChatInstallation, OAuthState
from soonish.models.community import (
    Community, CommunityAudit, CommunityFollow, CommunityInvite, CommunityMember, CommunityRole, FollowMode,
)
from soonish.models.cover import EventCover
from soonish.models.event import Event, EventStatus, Visibility
from soonish.models.integration import Integration, IntegrationState
from soonish.models.mail_reputation import BounceKind, MailBounce, SuppressedAddress
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
    NOT_FOLLOWING,
    Subscription,
    SubscriptionSelector,
    SubscriptionStatus,
    reminder_offsets_in_use,
)
from soonish.models.user import ChatConnectCode, ChatIdentity, ChatIdentityKind, User

__all__ = [
    "commit_keeping_loaded", "insert_ignoring_duplicates", "is_unique_violation", "lock_for_change", "UniqueKeyTaken",
    "db", "utcnow", "User", "ChatIdentity", "ChatConnectCode", "IntegrationState", "ChatIdentityKind", "Event", "EventStatus", "Visibility", "Integration",
    "Subscription", "SubscriptionSelector", "SubscriptionStatus", "reminder_offsets_in_use", "DEFAULT_REMINDER_OFFSETS", "NOT_FOLLOWING",
    "Notification", "NotificationKind", "Delivery", "DeliveryStatus", "DeliveryTally",
    "IdempotencyRecord", "ApiKey", "WebhookEndpoint", "WebhookMessage", "WebhookMessageStatus", "WebhookAttempt",
    "Rsvp", "RsvpAnswer", "PendingChatAction",
    "Community", "CommunityAudit", "CommunityFollow", "FollowMode", "CommunityInvite", "CommunityMember", "CommunityRole",
    "OutboxItem", "OutboxKind", "BounceKind", "MailBounce", "SuppressedAddress", "EventCover", "ChatInstallation",
    "OAuthState", "Series", "SeriesFollow", "SeriesStatus",
]
