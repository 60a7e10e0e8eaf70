"""Chat actions waiting for their Confirm button (create or cancel an event from chat)."""
from datetime import datetime

from sqlalchemy import JSON, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from soonish.models.base import UTCDateTime, db, utcnow


class PendingChatAction(db.Model):
    """Kept in the database, not in a button: Discord's custom ids hold 100 characters, and
    the button may be pressed on another process than the one that showed it."""

    __tablename__ = "pending_chat_actions"

    id: Mapped[int] = mapped_column(primary_key=True)
    # Only the one who asked may confirm.
    chat_identity_id: Mapped[int] = mapped_column(ForeignKey("chat_identities.id", ondelete="CASCADE"), index=True)
    action: Mapped[str] = mapped_column(String(16))  # "create" | "cancel"
    payload: Mapped[dict] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
