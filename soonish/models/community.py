"""Communities: a named page that owns events and series, and the people who run it (roles)."""
import enum
from datetime import date, datetime

from sqlalchemy import JSON, Date, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from soonish.field_limits import COMMUNITY_NAME_MAX, COMMUNITY_SLUG_MAX
from soonish.models.base import UTCDateTime, db, utcnow
from soonish.models.event import _enum
from soonish.models.subscription import SubscriptionStatus
from soonish.models.user import User


class CommunityRole(str, enum.Enum):
    """What a member may do is decided in one place: soonish/domain/communities.py."""

    OWNER = "owner"
    ADMIN = "admin"
    HOST = "host"
    ANNOUNCER = "announcer"


class Community(db.Model):
    __tablename__ = "communities"

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(COMMUNITY_SLUG_MAX), unique=True)
    name: Mapped[str] = mapped_column(String(COMMUNITY_NAME_MAX))
    description: Mapped[str] = mapped_column(Text, default="", server_default="")
    # The organizer whose own community this is (every organizer has one, made for those before
    # communities by the migration): where their events go unless they pick another. Unique, so
    # two first events created at once can't make two.
    personal_of_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), unique=True)
    # Deleted by its owner: its page is gone, its events cancelled, its series ended.
    archived_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The day of the week its digest followers hear what is coming (0 Monday … 6 Sunday, UTC).
    digest_weekday: Mapped[int] = mapped_column(default=0, server_default="0")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    # A personal community's page shows its organizer's avatar and bio, as host pages did.
    personal_of: Mapped[User | None] = relationship()

    def __repr__(self) -> str:
        return f"<Community {self.id} {self.slug!r}>"


class CommunityMember(db.Model):
    __tablename__ = "community_members"
    __table_args__ = (UniqueConstraint("community_id", "user_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("communities.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    role: Mapped[CommunityRole] = mapped_column(_enum(CommunityRole))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    community: Mapped[Community] = relationship()
    user: Mapped[User] = relationship()


class CommunityAudit(db.Model):
    """Who changed what in a community, and when: kept for its members to read."""

    __tablename__ = "community_audit"

    id: Mapped[int] = mapped_column(primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("communities.id", ondelete="CASCADE"), index=True)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    action: Mapped[str] = mapped_column(String(40))
    detail: Mapped[str] = mapped_column(String(300), default="", server_default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    actor: Mapped[User | None] = relationship()


class CommunityInvite(db.Model):
    """An invitation to help run a community, mailed as a signed link: it works once (the first
    ``accepted_at`` set wins, by a conditional UPDATE) and until ``expires_at`` (7 days)."""

    __tablename__ = "community_invites"

    id: Mapped[int] = mapped_column(primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("communities.id", ondelete="CASCADE"), index=True)
    email: Mapped[str] = mapped_column(String(254))
    role: Mapped[CommunityRole] = mapped_column(_enum(CommunityRole))
    invited_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    accepted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    accepted_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    community: Mapped[Community] = relationship()


class FollowMode(str, enum.Enum):
    """What following a community brings (soonish/domain/community_follows.py)."""

    NEW_EVENTS = "new_events"  # a message per new public event, with a one-tap "follow this event"
    DIGEST = "digest"  # one message on the community's digest day listing what is coming
    EVERY_EVENT = "every_event"  # followed automatically: each new public event, as if followed by hand


class CommunityFollow(db.Model):
    """Someone (a person, or a chat channel's account) following a community. Pending until an
    address alone confirms it by link, as an event's follow by email is."""

    __tablename__ = "community_follows"
    __table_args__ = (
        UniqueConstraint("community_id", "user_id"),
        # A new event's fan-out reads a community's active followers by mode.
        Index("ix_community_follows_community_status", "community_id", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("communities.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    mode: Mapped[FollowMode] = mapped_column(_enum(FollowMode))
    status: Mapped[SubscriptionStatus] = mapped_column(_enum(SubscriptionStatus), default=SubscriptionStatus.ACTIVE)
    # Where its messages go, as a subscription's selectors (a chat DM or channel); [] is the email address.
    selectors: Mapped[list[dict]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The digest day it was last sent for: set by one conditional update, so a day's digest goes once.
    digest_sent_on: Mapped[date | None] = mapped_column(Date)

    community: Mapped[Community] = relationship()
    user: Mapped[User] = relationship()
