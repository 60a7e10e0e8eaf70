"""Integrations: a user's delivery channels, each an Apprise URL stored encrypted."""
from datetime import datetime

from sqlalchemy import ForeignKey, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .base import UTCDateTime, db, utcnow
from .user import User


# Apprise schemes grouped into the channel kinds the delivery stats count.
CHANNEL_BY_SCHEME = {
    "json": "webhook", "jsons": "webhook", "form": "webhook", "forms": "webhook",
    "xml": "webhook", "xmls": "webhook", "mailto": "email", "mailtos": "email",
}


def channel_of(url_mask: str) -> str:
    """The channel kind of an integration's URL, from its mask (scheme://host)."""
    scheme = url_mask.split("://", 1)[0].lower()
    return CHANNEL_BY_SCHEME.get(scheme, scheme)


class Integration(db.Model):
    __tablename__ = "integrations"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(80))
    # Fernet token of the Apprise URL; the plain URL never touches the database.
    apprise_url_encrypted: Mapped[bytes] = mapped_column(LargeBinary)
    # What may be shown back: scheme and host only (credentials live in the URL).
    url_mask: Mapped[str] = mapped_column(String(200), default="")
    tag: Mapped[str] = mapped_column(String(40), default="", index=True)
    is_active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    user: Mapped[User] = relationship()

    @property
    def scheme(self) -> str:
        return self.url_mask.split("://", 1)[0].lower()

    @property
    def channel(self) -> str:
        return channel_of(self.url_mask)
