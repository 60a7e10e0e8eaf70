"""What API integrators keep with us: idempotency records, personal API keys, and outgoing
webhook endpoints with the messages and attempts sent to them."""
import enum
from datetime import datetime

from sqlalchemy import JSON, ForeignKey, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from soonish.models.base import UTCDateTime, db, utcnow
from soonish.models.event import _enum
from soonish.models.user import User


class IdempotencyRecord(db.Model):
    """The first answer to a request that carried an ``Idempotency-Key`` (Stripe semantics).

    In the database so every web process on every host sees it; ``status`` is None while the
    first request is still running. Only answers of requests that ran are kept, and never a
    secret they showed (see web/api/idempotency.py)."""

    __tablename__ = "idempotency_records"
    __table_args__ = (UniqueConstraint("caller", "key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    caller: Mapped[str] = mapped_column(String(64))  # "user:12": a key belongs to one account
    key: Mapped[str] = mapped_column(String(255))
    # The request the key was first used for: method, path and a hash of the body.
    fingerprint: Mapped[str] = mapped_column(String(64))
    status: Mapped[int | None] = mapped_column()
    response_body: Mapped[str | None] = mapped_column(Text)
    # What a replay repeats besides the body: the event version's ETag, the secrets left out.
    response_headers: Mapped[dict | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)


class ApiKey(db.Model):
    """A personal API key (``sk_...``): only its SHA-256 is kept; the key is shown once."""

    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(80))
    prefix: Mapped[str] = mapped_column(String(16))  # the first characters, so people tell keys apart
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    scopes: Mapped[list[str]] = mapped_column(JSON, default=list)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    user: Mapped[User] = relationship()


class WebhookEndpoint(db.Model):
    """Where an account wants to hear about events, signed per Standard Webhooks."""

    __tablename__ = "webhook_endpoints"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    url: Mapped[str] = mapped_column(String(2000))
    description: Mapped[str] = mapped_column(String(200), default="")
    event_types: Mapped[list[str]] = mapped_column(JSON, default=list)
    # Fernet token of the "whsec_..." signing secret.
    secret_encrypted: Mapped[bytes] = mapped_column(LargeBinary)
    is_active: Mapped[bool] = mapped_column(default=True)
    disabled_reason: Mapped[str | None] = mapped_column(String(300))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    user: Mapped[User] = relationship()


class WebhookMessageStatus(str, enum.Enum):
    PENDING = "pending"  # being delivered or waiting for its next retry
    DELIVERED = "delivered"
    FAILED = "failed"  # retries exhausted (3 days)


class WebhookMessage(db.Model):
    """One event sent to one endpoint; its ``msg_id`` is the ``webhook-id`` the receiver dedupes on."""

    __tablename__ = "webhook_messages"

    id: Mapped[int] = mapped_column(primary_key=True)
    endpoint_id: Mapped[int] = mapped_column(ForeignKey("webhook_endpoints.id", ondelete="CASCADE"), index=True)
    msg_id: Mapped[str] = mapped_column(String(64), unique=True)
    event_type: Mapped[str] = mapped_column(String(64))
    payload: Mapped[dict] = mapped_column(JSON)
    status: Mapped[WebhookMessageStatus] = mapped_column(
        _enum(WebhookMessageStatus), default=WebhookMessageStatus.PENDING
    )
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    endpoint: Mapped[WebhookEndpoint] = relationship()
    attempts: Mapped[list["WebhookAttempt"]] = relationship(
        back_populates="message", order_by="WebhookAttempt.id", cascade="all, delete-orphan"
    )


class WebhookAttempt(db.Model):
    __tablename__ = "webhook_attempts"

    id: Mapped[int] = mapped_column(primary_key=True)
    message_id: Mapped[int] = mapped_column(ForeignKey("webhook_messages.id", ondelete="CASCADE"), index=True)
    status_code: Mapped[int | None] = mapped_column()
    error: Mapped[str | None] = mapped_column(String(500))
    succeeded: Mapped[bool] = mapped_column(default=False)
    attempted_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    message: Mapped[WebhookMessage] = relationship(back_populates="attempts")
