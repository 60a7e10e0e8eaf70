"""An event's cover image, kept in the database.

Covers are small once re-encoded (a 1200×630 JPEG, typically 50–250 KB), read by every web
process on every host without a shared disk or an object store to run, and go into the same
backups as the event they belong to. A cache in front (Cache-Control + ETag) spares the
database the repeat reads.
"""
from datetime import datetime

from sqlalchemy import ForeignKey, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from soonish.models.base import UTCDateTime, db, utcnow


class EventCover(db.Model):
    __tablename__ = "event_covers"

    event_id: Mapped[int] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"), primary_key=True)
    image: Mapped[bytes] = mapped_column(LargeBinary)
    content_type: Mapped[str] = mapped_column(String(32))
    etag: Mapped[str] = mapped_column(String(64))  # a hash of the image
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
