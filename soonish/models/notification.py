"""Notifications and the deliveries ledger that makes every send happen once."""
import enum
from datetime import datetime

from sqlalchemy import JSON, BigInteger, Float, ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from soonish.field_limits import TITLE_MAX
from soonish.models.base import UTCDateTime, db, utcnow
from soonish.models.event import Event, _enum
from soonish.models.subscription import Subscription
from soonish.models.user import User


class NotificationKind(str, enum.Enum):
    UPDATE = "update"
    CANCEL = "cancel"
    ANNOUNCEMENT = "announcement"
    REMINDER = "reminder"
    WELCOME = "welcome"
    # The organizer's "still coming?" check to those going (a reminder of its own kind).
    STILL_COMING = "still_coming"
    # A new public event, told to its community's followers (domain/community_follows.py).
    COMMUNITY_EVENT = "community_event"


class DeliveryStatus(str, enum.Enum):
    PENDING = "pending"  # not sent yet, or failed and will be retried
    SENT = "sent"
    FAILED = "failed"  # gave up: last_error says why
    SKIPPED = "skipped"  # the subscriber left or the channel was removed before it was sent
    # Not sent: the address is on the suppression list (last_error says since when and why).
    SUPPRESSED = "suppressed"


class Notification(db.Model):
    __tablename__ = "notifications"

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"), index=True)
    kind: Mapped[NotificationKind] = mapped_column(_enum(NotificationKind))
    title: Mapped[str] = mapped_column(String(TITLE_MAX))
    body: Mapped[str] = mapped_column(Text, default="")
    author_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    # Set for notifications that must exist once (e.g. a reminder: event, offset and start time),
    # so a schedule that fires twice finds the first row instead of making a second.
    dedupe_key: Mapped[str | None] = mapped_column(String(200), unique=True)
    # Set on reminders: only subscriptions holding this offset (seconds before start) get it;
    # on a still-coming check (negative, see delivery.reminders), only those going.
    reminder_offset: Mapped[int | None] = mapped_column()
    # Set when the notification is for one subscriber only (a welcome), else it goes to all.
    subscription_id: Mapped[int | None] = mapped_column(
        ForeignKey("subscriptions.id", ondelete="CASCADE")
    )
    # Set on updates: what the changed fields were before the edit (messages.change_snapshot),
    # so updates coalesced into one describe everything since followers were last told.
    change_from: Mapped[dict | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # When the event's workflow finished its fan-out (every batch done, retries included). Until
    # then a notification without deliveries is on its way, not one that found nobody: the
    # organizer's live counts keep following it (delivery.ledger.mark_settled).
    settled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # A broadcast whose first sends bounced too often stops until its organizer resumes it
    # (domain.mail_reputation.pause_if_bouncing); once resumed it is not paused again.
    paused_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    resumed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    event: Mapped[Event] = relationship()
    author: Mapped[User | None] = relationship()


# Whose rate limit a waiting send waits for: a platform's name or a host name.
WAITING_FOR_MAX = 100


class Delivery(db.Model):
    """One message to one target. The unique key is what makes sends idempotent."""

    __tablename__ = "deliveries"
    # Every query of the ledger names the notification: the unique key (which leads with it)
    # serves them all, so notification_id and status have no index of their own. Each one was
    # written again on every claim and every recorded send (a status change moves the row).
    __table_args__ = (UniqueConstraint("notification_id", "subscription_id", "target"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    notification_id: Mapped[int] = mapped_column(ForeignKey("notifications.id", ondelete="CASCADE"))
    subscription_id: Mapped[int] = mapped_column(
        ForeignKey("subscriptions.id", ondelete="CASCADE"), index=True
    )
    # Where it goes, with no secret in it: "integration:12", "email:a@b.c", "slack:T1:U2".
    target: Mapped[str] = mapped_column(String(300))
    channel: Mapped[str] = mapped_column(String(32), default="")  # kind of channel, for stats
    status: Mapped[DeliveryStatus] = mapped_column(_enum(DeliveryStatus), default=DeliveryStatus.PENDING)
    attempts: Mapped[int] = mapped_column(default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Rate limits: how often and how long the send waited for its destination's budget, and,
    # while it waits a long while, until when and for whose limit ("Slack").
    waits: Mapped[int] = mapped_column(default=0, server_default="0")
    waited_seconds: Mapped[float] = mapped_column(Float, default=0.0, server_default="0")
    waiting_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    waiting_for: Mapped[str | None] = mapped_column(String(WAITING_FOR_MAX))
    # When a push notification's action (Going, Can't make it) answered with this delivery's
    # signed token: set once, by a conditional update, so the token works once.
    answered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The batch attempt that may send it (ledger.fence_of): when Temporal hands a batch whose
    # heartbeats stopped reaching it to a new attempt while the old one still runs, the old
    # one sends nothing the new one took.
    fence: Mapped[int | None] = mapped_column(BigInteger)
    # While its group of sends is in flight, until when that attempt holds it: a newer attempt
    # leaves it alone until then (ledger.SEND_HOLD).
    sending_until: Mapped[datetime | None] = mapped_column(UTCDateTime)

    notification: Mapped[Notification] = relationship()
    subscription: Mapped[Subscription] = relationship()


class DeliveryTally(db.Model):
    """Deliveries folded away by ledger retention: how many of a notification's deliveries ended
    with each status (and, for failures, why), so organizers keep "412 delivered, 8 failed"
    after the rows themselves are pruned."""

    __tablename__ = "delivery_tallies"
    __table_args__ = (UniqueConstraint("notification_id", "status", "reason"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    notification_id: Mapped[int] = mapped_column(ForeignKey("notifications.id", ondelete="CASCADE"), index=True)
    status: Mapped[DeliveryStatus] = mapped_column(_enum(DeliveryStatus))
    reason: Mapped[str] = mapped_column(String(500), default="")  # failures only; "" otherwise
    count: Mapped[int] = mapped_column(default=0)
