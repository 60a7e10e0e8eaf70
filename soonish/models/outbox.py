"""The follow outbox: work a follow request leaves for the worker, committed in the same
transaction as the subscription it is about.

A follow writes its subscription and an outbox row together and answers at once; the worker's
drain (soonish/temporal/outbox/drain.py) takes rows in batches, sends confirm mails over one reused
SMTP connection and tells event workflows what changed, once per event per batch. A row is
claimed with a lease and marked done only after its work is done, like the deliveries ledger:
a crash mid-batch leaves the rows claimed, and another drain takes them when the lease ends.
"""
import enum
from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from soonish.models.base import UTCDateTime, db, utcnow
from soonish.models.event import _enum


class OutboxKind(str, enum.Enum):
    CONFIRM_MAIL = "confirm_mail"  # subject: a pending subscription; mail its confirm link
    NOTIFY = "notify"  # subject: a notification (a welcome); hand it to the event's workflow
    REMINDERS_CHANGED = "reminders"  # subject: the event; its subscriptions or offsets changed


class OutboxItem(db.Model):
    __tablename__ = "outbox"
    __table_args__ = (
        # The drain's claim scans pending rows in id order; the repeat check looks a subject up.
        Index("ix_outbox_pending", "done_at", "id"),
        Index("ix_outbox_subject", "kind", "subject_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[OutboxKind] = mapped_column(_enum(OutboxKind))
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"), index=True)
    subject_id: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Until then the row belongs to the drain that claimed it; after, any drain may take it.
    claimed_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    done_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(String(500))
