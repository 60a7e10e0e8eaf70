"""Recurring series: an organizer's rule that makes events (occurrences) ahead of time, and the
people who follow every occurrence."""
import enum
from datetime import datetime

from sqlalchemy import JSON, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from soonish.field_limits import ONLINE_URL_MAX, SERIES_RULE_MAX
from soonish.models.base import UTCDateTime, db, utcnow
from soonish.models.event import Published, _enum
from soonish.models.user import User


class SeriesStatus(str, enum.Enum):
    ACTIVE = "active"  # occurrences are made ahead as time goes on
    CANCELLED = "cancelled"  # the organizer stopped it; its future occurrences are cancelled


class Series(Published, db.Model):
    """What every occurrence is made from. The rule is the single truth about when: the first
    instance is ``starts_at`` (read in ``timezone``, so its wall-clock time is the series'
    time of day), the rest follow the stored RRULE (soonish/domain/series/recurrence.py)."""

    __tablename__ = "series"

    online_url: Mapped[str] = mapped_column(String(ONLINE_URL_MAX), default="")
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime)  # the first instance
    duration_seconds: Mapped[int | None] = mapped_column()  # None: occurrences have no end
    rrule: Mapped[str] = mapped_column(String(SERIES_RULE_MAX))
    # Instances up to here have been made into events (or were skipped as past).
    materialized_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    status: Mapped[SeriesStatus] = mapped_column(_enum(SeriesStatus), default=SeriesStatus.ACTIVE, index=True)

    organizer: Mapped[User] = relationship()

    def __repr__(self) -> str:
        return f"<Series {self.id} {self.slug!r}>"


class SeriesFollow(db.Model):
    """Someone following every occurrence: their choices are copied into a subscription of
    each occurrence (now, and as new ones are made), so reminders work as for any event."""

    __tablename__ = "series_follows"
    __table_args__ = (UniqueConstraint("series_id", "user_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    series_id: Mapped[int] = mapped_column(ForeignKey("series.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    # As the subscription API takes them: [{"integration_id": n} | {"tag": t} | {"chat_identity_id": n}].
    selectors: Mapped[list[dict]] = mapped_column(JSON, default=list)
    reminder_offsets: Mapped[list[int]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    series: Mapped[Series] = relationship()
    user: Mapped[User] = relationship()
