"""What mailbox providers told us about our mail: bounces and complaints as they arrived, and
the suppression list they feed (addresses no mail goes to).

Addresses are kept as a keyed fingerprint (``mail_reputation.address_key``) and a masked form for
organizers ("a***@example.com"): a suppression must outlive the person's erasure (their
address would otherwise be mailed again the day it follows anything), and a fingerprint is
nothing personal. The owner, who knows the address, finds their entry by it.
"""
import enum
from datetime import datetime

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from soonish.models.base import UTCDateTime, db, utcnow
from soonish.models.event import _enum

REASON_MAX = 300
TAG_MAX = 100


class BounceKind(str, enum.Enum):
    HARD = "hard"  # 5.x.x, the provider's "Permanent": the address does not take mail
    SOFT = "soft"  # 4.x.x, mailbox full, expired in the queue: it may take mail later
    COMPLAINT = "complaint"  # the person pressed "report spam" (ARF, a provider's complaint event)


class MailBounce(db.Model):
    """One bounce or complaint as it came in (asynchronous DSN, a provider's webhook, or the
    mail server's own 5xx at RCPT/DATA)."""

    __tablename__ = "mail_bounces"
    __table_args__ = (
        # Soft-bounce escalation counts one address's recent bounces.
        Index("ix_mail_bounces_address", "address_tag", "received_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    address_tag: Mapped[str] = mapped_column(String(TAG_MAX))
    kind: Mapped[BounceKind] = mapped_column(_enum(BounceKind))
    status: Mapped[str] = mapped_column(String(16), default="")  # "5.1.1", "550", ""
    reason: Mapped[str] = mapped_column(String(REASON_MAX), default="")
    source: Mapped[str] = mapped_column(String(16))  # mail-in, smtp, ses, postmark, mailgun
    # The send it answered, when the bounce named one (VERP, a provider's message id).
    delivery_id: Mapped[int | None] = mapped_column(ForeignKey("deliveries.id", ondelete="SET NULL"), index=True)
    notification_id: Mapped[int | None] = mapped_column(
        ForeignKey("notifications.id", ondelete="CASCADE"), index=True)
    # Whose mail it was (a broadcast's event's organizer): each organizer's standing.
    organizer_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), index=True)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class SuppressedAddress(db.Model):
    """An address no mail goes to, and why."""

    __tablename__ = "suppressed_addresses"

    id: Mapped[int] = mapped_column(primary_key=True)
    address_tag: Mapped[str] = mapped_column(String(TAG_MAX), unique=True)
    masked: Mapped[str] = mapped_column(String(254))  # "a***@example.com": what organizers see
    kind: Mapped[BounceKind] = mapped_column(_enum(BounceKind))
    # For people: "this address bounced on 3 Dec: mailbox does not exist".
    reason: Mapped[str] = mapped_column(String(REASON_MAX))
    suppressed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
