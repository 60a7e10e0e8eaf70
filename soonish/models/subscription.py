"""Subscriptions: who follows which event, when to remind them, and where to deliver."""
import enum
import json
from datetime import datetime

from sqlalchemy import JSON, CheckConstraint, ForeignKey, Index, String, UniqueConstraint, cast, false, select
from sqlalchemy.orm import Mapped, mapped_column, relationship

from soonish.models.base import UTCDateTime, db, utcnow
from soonish.models.event import Event, _enum
from soonish.models.integration import Integration
from soonish.models.user import ChatIdentity, User

DEFAULT_REMINDER_OFFSETS = [86400, 3600]  # 1 day and 1 hour before, in seconds


class SubscriptionStatus(str, enum.Enum):
    PENDING = "pending"  # anonymous email not yet confirmed
    ACTIVE = "active"
    UNSUBSCRIBED = "unsubscribed"
    # Told of a new event through a community they follow ("tell me about new events"), not
    # following it: the message's one-tap link makes it active. Gets nothing else.
    SUGGESTED = "suggested"


# A subscription in either of these is no follow: pages and lists show none, and following again
# is a fresh act (the old choices don't come back).
NOT_FOLLOWING = (SubscriptionStatus.UNSUBSCRIBED, SubscriptionStatus.SUGGESTED)


class Subscription(db.Model):
    __tablename__ = "subscriptions"
    __table_args__ = (
        UniqueConstraint("event_id", "user_id"),
        # An event's active followers, counted on every view of its page and listed by planning,
        # straight from the index. Both lead with event_id, which needs no index of its own.
        Index("ix_subscriptions_event_id_status", "event_id", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    status: Mapped[SubscriptionStatus] = mapped_column(
        _enum(SubscriptionStatus), default=SubscriptionStatus.ACTIVE, index=True
    )
    # Seconds before the event's start, largest first.
    reminder_offsets: Mapped[list[int]] = mapped_column(
        JSON, default=lambda: list(DEFAULT_REMINDER_OFFSETS)
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # What a visitor's "I'm going" asked for, carried out when the confirm link proves the
    # address: answer "going" (a follow by email alone leaves it False), and whether their name
    # may show among those going.
    going_on_confirm: Mapped[bool] = mapped_column(default=False, server_default=false())
    listed_on_confirm: Mapped[bool] = mapped_column(default=False, server_default=false())
    # Made by following a community (suggested, or followed automatically): its new-event
    # message goes to these, with the community's manage and unsubscribe links.
    community_follow_id: Mapped[int | None] = mapped_column(ForeignKey("community_follows.id", ondelete="SET NULL"))
    # The language its messages are written in (a catalog's name: "de", "pt_BR"): the page's it
    # was made on, for a follower without an account, or the one chosen on its manage page.
    # None: the follower's account setting (``reader_locale``).
    locale: Mapped[str | None] = mapped_column(String(16))

    event: Mapped[Event] = relationship()
    user: Mapped[User] = relationship()
    selectors: Mapped[list["SubscriptionSelector"]] = relationship(
        back_populates="subscription", cascade="all, delete-orphan"
    )


class SubscriptionSelector(db.Model):
    """Routes a subscription to one integration, to every active integration with a tag, or to
    a chat identity (a person's DM or a channel)."""

    __tablename__ = "subscription_selectors"
    __table_args__ = (
        CheckConstraint(
            "(CASE WHEN integration_id IS NULL THEN 0 ELSE 1 END)"
            " + (CASE WHEN tag IS NULL THEN 0 ELSE 1 END)"
            " + (CASE WHEN chat_identity_id IS NULL THEN 0 ELSE 1 END) = 1",
            name="one_route",
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    subscription_id: Mapped[int] = mapped_column(
        ForeignKey("subscriptions.id", ondelete="CASCADE"), index=True
    )
    integration_id: Mapped[int | None] = mapped_column(
        ForeignKey("integrations.id", ondelete="CASCADE")
    )
    tag: Mapped[str | None] = mapped_column(String(40))
    chat_identity_id: Mapped[int | None] = mapped_column(
        ForeignKey("chat_identities.id", ondelete="CASCADE"), index=True
    )

    subscription: Mapped[Subscription] = relationship(back_populates="selectors")
    integration: Mapped[Integration | None] = relationship()
    chat_identity: Mapped[ChatIdentity | None] = relationship()


def reminder_offsets_in_use(event_id: int) -> set[int]:
    """Every offset some active subscription of the event holds."""
    # DISTINCT over the JSON text: few subscribers have their own combination of offsets.
    combinations = db.session.scalars(
        select(cast(Subscription.reminder_offsets, String))
        .where(Subscription.event_id == event_id, Subscription.status == SubscriptionStatus.ACTIVE)
        .distinct()
    )
    return {offset for text in combinations for offset in json.loads(text or "[]")}
