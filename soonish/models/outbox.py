"""The outbox: every effect an operation causes after its commit (a mail, a workflow to start or
signal, a webhook message to deliver), committed in the same transaction as the change it is about.

A follow writes its subscription and an outbox row together and answers at once; the worker's
drain (soonish/temporal/outbox/drain.py) takes rows in batches, sends confirm mails over one reused
SMTP connection and tells event workflows what changed, once per event per batch. A row is
claimed with a lease and marked done only after its work is done, like the deliveries ledger:
a crash mid-batch leaves the rows claimed, and another drain takes them when the lease ends.
"""
import enum
from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from soonish.models.base import UTCDateTime, db, utcnow
from soonish.models.event import _enum


class OutboxKind(str, enum.Enum):
    CONFIRM_MAIL = "confirm_mail"  # subject: a pending subscription; mail its confirm link
    # subject: what the mail is about (payload: its OneOffKind, and an address no table holds)
    ONE_OFF_MAIL = "one_off_mail"
    NOTIFY = "notify"  # subject: a notification; hand it to the event's workflow
    REMINDERS_CHANGED = "reminders"  # subject: the event; its subscriptions or offsets changed
    EVENT_CREATED = "event_created"  # subject: the event; start its workflow
    # subject: the event's notice (0: none); tell the workflow the event's new version
    EVENT_UPDATED = "event_updated"
    EVENT_CANCELLED = "event_cancelled"
    WEBHOOK_MESSAGE = "webhook_message"  # subject: a webhook message; start its delivery workflow
    WAITLIST_OFFER = "waitlist_offer"  # subject: an offered RSVP (payload: expires_at); start its offer
    # subject: a new public event of a community; after the update-coalescing window, tell its
    # followers (none if it was cancelled or hidden meanwhile)
    COMMUNITY_EVENT_CREATED = "community_event"
    RESUME = "resume"  # subject: a paused broadcast its organizer resumed; deliver the rest


class OutboxItem(db.Model):
    __tablename__ = "outbox"
    __table_args__ = (
        # The drain's claim scans pending rows in id order; the repeat check looks a subject up.
        Index("ix_outbox_pending", "done_at", "id"),
        Index("ix_outbox_subject", "kind", "subject_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[OutboxKind] = mapped_column(_enum(OutboxKind))
    # None for effects about no event (an account's mail, a webhook message); an event's go with it.
    event_id: Mapped[int | None] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"), index=True)
    subject_id: Mapped[int] = mapped_column(Integer)
    # What the kind needs beyond its subject; a one-off mail's address is cleared once it is sent.
    payload: Mapped[dict | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Until then the row belongs to the drain that claimed it; after, any drain may take it.
    claimed_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    done_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(String(500))
