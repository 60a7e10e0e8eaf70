"""Where our chat app is installed: one row per Slack workspace (or Discord server), with the
workspace's own bot token, encrypted; and the single-use ``state`` of OAuth flows in progress."""
from datetime import datetime

from sqlalchemy import ForeignKey, LargeBinary, String, UniqueConstraint, false
from sqlalchemy.orm import Mapped, mapped_column

from soonish.models.base import UTCDateTime, db, utcnow
from soonish.field_limits import CHAT_NAME_MAX


class ChatInstallation(db.Model):
    """Our app in one workspace. An Enterprise Grid org-wide install has a row for the
    organization (``workspace_id`` is the enterprise id) and one for each of its workspaces, all
    with the same token: a send looks up the workspace it goes to, nothing else."""

    __tablename__ = "chat_installations"
    __table_args__ = (UniqueConstraint("platform", "workspace_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    platform: Mapped[str] = mapped_column(String(16))  # "slack" | "discord"
    workspace_id: Mapped[str] = mapped_column(String(64))  # Slack team (or enterprise) id, Discord guild id
    workspace_name: Mapped[str] = mapped_column(String(CHAT_NAME_MAX), default="", server_default="")
    enterprise_id: Mapped[str | None] = mapped_column(String(64), index=True)
    is_enterprise_install: Mapped[bool] = mapped_column(default=False, server_default=false())
    app_id: Mapped[str | None] = mapped_column(String(64))
    # Fernet token of the bot token (SOONISH_ENCRYPTION_KEYS; `soonish rotate-keys` re-encrypts
    # it). None for Discord, whose one bot token is the deployment's.
    bot_token_encrypted: Mapped[bytes | None] = mapped_column(LargeBinary)
    bot_id: Mapped[str | None] = mapped_column(String(64))
    bot_user_id: Mapped[str | None] = mapped_column(String(64))
    bot_scopes: Mapped[str] = mapped_column(String(1000), default="", server_default="")
    installer_external_id: Mapped[str | None] = mapped_column(String(64))  # the Slack user who installed
    # The Soonish account that pressed "Add to Slack", when signed in: told by mail of an uninstall.
    installed_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), index=True)
    installed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    removed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    removed_reason: Mapped[str | None] = mapped_column(String(200))

    @property
    def is_active(self) -> bool:
        return self.removed_at is None


class OAuthState(db.Model):
    """An OAuth flow's ``state``, kept server-side (only its hash) and consumed once."""

    __tablename__ = "oauth_states"

    id: Mapped[int] = mapped_column(primary_key=True)
    state_hash: Mapped[str] = mapped_column(String(64), unique=True)
    purpose: Mapped[str] = mapped_column(String(32))  # "slack_install", ...
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
