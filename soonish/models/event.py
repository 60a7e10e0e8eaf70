"""Events: what organizers create and subscribers follow."""
import enum
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import Boolean, Enum, ForeignKey, String, Text, UniqueConstraint, false, true
from sqlalchemy.orm import Mapped, mapped_column, relationship

from soonish.field_limits import LANGUAGE_TAG_MAX, LOCATION_MAX, ONLINE_URL_MAX, SLUG_MAX, STILL_COMING_HOURS_DEFAULT, TITLE_MAX
from soonish.models.base import UTCDateTime, db, utcnow
from soonish.models.user import User

if TYPE_CHECKING:  # models/community.py imports this module
    from soonish.models.community import Community


class Visibility(str, enum.Enum):
    PUBLIC = "public"  # listed and visible to all
    UNLISTED = "unlisted"  # visible to anyone holding the link, never listed
    PRIVATE = "private"  # visible to its organizer only


class EventStatus(str, enum.Enum):
    SCHEDULED = "scheduled"
    CANCELLED = "cancelled"
    COMPLETED = "completed"


def _enum(cls):
    # Store the lowercase values, not the member names, and keep them portable (no native enum).
    return Enum(cls, native_enum=False, length=16, values_callable=lambda e: [m.value for m in e])


class Published:
    """What an organizer publishes in a community under a slug of its own: an event (/e/{slug})
    or a series (/s/{slug}). The columns both tables have, each declared once."""

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(SLUG_MAX), unique=True)
    # Who created it; what anyone may do to it is their role in its community (domain/communities.py).
    organizer_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    community_id: Mapped[int | None] = mapped_column(ForeignKey("communities.id"), index=True)
    title: Mapped[str] = mapped_column(String(TITLE_MAX))
    description: Mapped[str] = mapped_column(Text, default="")
    location: Mapped[str] = mapped_column(String(LOCATION_MAX), default="")
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")  # IANA name
    visibility: Mapped[Visibility] = mapped_column(_enum(Visibility), default=Visibility.PUBLIC)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class Event(Published, db.Model):
    __tablename__ = "events"
    # A series makes each instance once, however often (or concurrently) it is materialized.
    __table_args__ = (UniqueConstraint("series_id", "occurrence_start"),)

    # An http(s) link to join online; shown to followers from shortly before the start.
    online_url: Mapped[str] = mapped_column(String(ONLINE_URL_MAX), default="", server_default="")
    # The public page shows how many follow; the organizer may hide it.
    show_follower_count: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    # The page shows those going who agreed to it; the organizer may hide that list.
    show_guest_list: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    ends_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The BCP 47 tag of the organizer's own text ("de", "pt-BR"), set on the page around it for
    # screen readers; None when not said. The page's own words follow the reader's language.
    language: Mapped[str | None] = mapped_column(String(LANGUAGE_TAG_MAX))
    status: Mapped[EventStatus] = mapped_column(_enum(EventStatus), default=EventStatus.SCHEDULED)
    # The organizer's words when cancelling, if any (also in the cancel notification's text).
    cancel_reason: Mapped[str | None] = mapped_column(String(500))
    # Bumped on every change; the EventWorkflow keeps the newest version it was told about.
    version: Mapped[int] = mapped_column(default=1)
    # Going / maybe / can't go answers; on for new events, off for those made before RSVPs.
    rsvp_enabled: Mapped[bool] = mapped_column(default=True, server_default=false())
    # Places for "going"; None is unlimited. When full, "going" joins the waitlist.
    capacity: Mapped[int | None] = mapped_column()
    # An occurrence of a recurring series: the series, the instance's original start (its
    # RECURRENCE-ID, which never moves), and whether it was edited on its own ("this occurrence").
    series_id: Mapped[int | None] = mapped_column(ForeignKey("series.id", ondelete="SET NULL"), index=True)
    occurrence_start: Mapped[datetime | None] = mapped_column(UTCDateTime)
    occurrence_overridden: Mapped[bool] = mapped_column(default=False, server_default=false())
    # The "still coming?" check: those going are asked this many hours before the start to
    # confirm or free their place (a reminder of its own kind, see delivery.reminders).
    still_coming_check: Mapped[bool] = mapped_column(default=False, server_default=false())
    still_coming_hours: Mapped[int] = mapped_column(default=STILL_COMING_HOURS_DEFAULT,
                                                    server_default=str(STILL_COMING_HOURS_DEFAULT))

    organizer: Mapped[User] = relationship()
    community: Mapped["Community | None"] = relationship()

    # Every change of an event is written as UPDATE ... WHERE id = ? AND version = <as read>, so
    # two requests that read the same version can't both change it (two cancels, two edits
    # from one ETag): the second finds no row and SQLAlchemy raises StaleDataError (see
    # services.concurrency). The services bump the version themselves (not every write is a
    # new version: completing an event or setting its capacity only has to be from the current one).
    __mapper_args__ = {"version_id_col": version, "version_id_generator": False}

    @property
    def finishes_at(self) -> datetime:
        """When the event is over: its end, or its start when it has no end."""
        return self.ends_at or self.starts_at

    def __repr__(self) -> str:
        return f"<Event {self.id} {self.slug!r}>"
