"""Integrations: a user's delivery channels, each an Apprise URL stored encrypted."""
from datetime import datetime

from sqlalchemy import ForeignKey, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from soonish.models.base import UTCDateTime, db, utcnow
from soonish.models.user import User


# Apprise schemes grouped into the channel kinds the delivery stats count.
CHANNEL_BY_SCHEME = {
    "json": "webhook", "jsons": "webhook", "form": "webhook", "forms": "webhook",
    "xml": "webhook", "xmls": "webhook", "mailto": "email", "mailtos": "email",
}
# The url_mask scheme of a browser's push subscription ("push://fcm.googleapis.com").
PUSH_SCHEME = "push"


class Integration(db.Model):
    """A channel: an Apprise URL, or another email address of the person's (delivered through
    our own SMTP like their account address, once the address has proven it is theirs)."""

    __tablename__ = "integrations"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(80))
    # Fernet token of the Apprise URL; the plain URL never touches the database. None for an
    # email channel.
    apprise_url_encrypted: Mapped[bytes | None] = mapped_column(LargeBinary)
    # An email channel: the address, when it opened its verification link, and when the last
    # verification mail went (resends are spaced by it).
    email_address: Mapped[str | None] = mapped_column(String(254))
    email_verified_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    verification_sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # A browser's Web Push subscription (a device): Fernet token of its JSON (endpoint and
    # keys, which read and write the device's notifications), and the endpoint's SHA-256, by
    # which the same browser subscribing again finds its channel. None for other channels.
    push_subscription_encrypted: Mapped[bytes | None] = mapped_column(LargeBinary)
    push_endpoint_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
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
        if self.email_address is not None:
            return "email"
        return CHANNEL_BY_SCHEME.get(self.scheme, self.scheme)

    @property
    def is_push(self) -> bool:
        return self.push_endpoint_hash is not None

    @property
    def owner_name(self) -> str:
        """How an email channel's verification names its owner to the address."""
        return self.user.display_name or self.user.email or "A Soonish user"

    @property
    def awaiting_verification(self) -> bool:
        return self.email_address is not None and self.email_verified_at is None

    @property
    def delivers(self) -> bool:
        """Whether messages go to it: switched on and, for an email channel, verified."""
        return self.is_active and not self.awaiting_verification

    @property
    def state(self) -> str:
        if self.awaiting_verification:
            return IntegrationState.AWAITING_VERIFICATION
        return IntegrationState.ACTIVE if self.is_active else IntegrationState.PAUSED


class IntegrationState:
    ACTIVE = "active"
    PAUSED = "paused"
    AWAITING_VERIFICATION = "waiting_for_verification"
    ALL = (ACTIVE, PAUSED, AWAITING_VERIFICATION)
