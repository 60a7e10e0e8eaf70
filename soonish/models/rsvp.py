"""RSVPs: who says they are coming to an event, and the waitlist when it is full."""
import enum
from datetime import datetime

from sqlalchemy import ForeignKey, UniqueConstraint, false
from sqlalchemy.orm import Mapped, mapped_column, relationship

from soonish.models.base import UTCDateTime, db, utcnow
from soonish.models.event import Event, _enum
from soonish.models.user import User


class RsvpAnswer(str, enum.Enum):
    GOING = "going"
    MAYBE = "maybe"
    NOT_GOING = "no"  # "can't go"
    # Said "going" while the event was full: in line for the next freed place.
    WAITLISTED = "waitlisted"


class Rsvp(db.Model):
    __tablename__ = "rsvps"
    __table_args__ = (UniqueConstraint("event_id", "user_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    answer: Mapped[RsvpAnswer] = mapped_column(_enum(RsvpAnswer))
    # The waitlist's order: when this person joined it.
    waitlisted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # A freed place is held for this waitlisted person until then (their one-tap accept).
    offer_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    answered_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # The start time this "going" was confirmed for by the still-coming check's "yes" (a moved
    # event asks again: a confirmation counts only while it names the current start).
    still_coming_for: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The person agreed to their name and avatar showing among those going (off unless asked).
    listed: Mapped[bool] = mapped_column(default=False, server_default=false())

    event: Mapped[Event] = relationship()
    user: Mapped[User] = relationship()
