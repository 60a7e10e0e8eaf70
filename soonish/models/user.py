"""People: accounts, anonymous email subscribers, and their chat identities."""
from datetime import datetime

from flask import current_app
from flask_login import UserMixin
from sqlalchemy import ForeignKey, String, UniqueConstraint, true
from sqlalchemy.orm import Mapped, mapped_column, relationship
from werkzeug.security import check_password_hash, generate_password_hash

from soonish.domain.chat_markup import ChatPlatform
from soonish.field_limits import BIO_MAX, CHAT_NAME_MAX, DISPLAY_NAME_MAX
from soonish.models.base import UTCDateTime, db, utcnow


class User(UserMixin, db.Model):
    """One person. Anonymous subscribers are users with an email and no password."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    # Nullable: a user first met in chat has no email until they link one.
    email: Mapped[str | None] = mapped_column(String(254), unique=True)
    display_name: Mapped[str] = mapped_column(String(DISPLAY_NAME_MAX), default="")
    # A few words about the person, shown beside their events as their host's line.
    bio: Mapped[str] = mapped_column(String(BIO_MAX), default="", server_default="")
    password_hash: Mapped[str | None] = mapped_column(String(255))
    is_verified: Mapped[bool] = mapped_column(default=False)
    # Secret for the personal calendar feed; None when revoked or never made.
    calendar_token: Mapped[str | None] = mapped_column(String(64), unique=True)
    # Bumped to sign out everywhere: sessions and API tokens carry the epoch they were issued
    # in, and the request loaders refuse any other (a reset, a revoke, a deletion).
    token_epoch: Mapped[int] = mapped_column(default=0, server_default="0")
    # Set when the person deleted their account or had their address forgotten: the row stays
    # as a tombstone so organizers' delivery counts keep their rows, but holds nothing personal.
    erased_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # When a chat DM to this person fails for good (DMs closed, account gone), the message goes
    # to their verified email instead, once; they may turn that off.
    email_fallback: Mapped[bool] = mapped_column(default=True, server_default=true())
    # The language they chose (soonish.i18n.SUPPORTED_LOCALES); None: their browser's says.
    locale: Mapped[str | None] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    chat_identities: Mapped[list["ChatIdentity"]] = relationship(back_populates="user")

    def set_password(self, password: str) -> None:
        self.password_hash = generate_password_hash(password, method=current_app.config["PASSWORD_HASH_METHOD"])

    def check_password(self, password: str) -> bool:
        return self.password_hash is not None and check_password_hash(self.password_hash, password)

    def __repr__(self) -> str:
        return f"<User {self.id} {self.email!r}>"


class ChatIdentityKind:
    USER = "user"  # a person: messages go to their DM
    # A channel that follows events itself (`subscribe <event> here`): external_user_id holds
    # the channel id and its user stands for the channel, so its subscriptions are its own.
    CHANNEL = "channel"


class ChatIdentity(db.Model):
    """A Slack or Discord account (or channel), mapped to the Soonish user it acts as."""

    __tablename__ = "chat_identities"
    __table_args__ = (UniqueConstraint("platform", "workspace_id", "external_user_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    platform: Mapped[str] = mapped_column(String(16))  # "slack" | "discord"
    workspace_id: Mapped[str] = mapped_column(String(64))  # Slack team id or Discord guild id
    external_user_id: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(16), default=ChatIdentityKind.USER, server_default=ChatIdentityKind.USER)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    # How the platform last named the account and its workspace, for showing the identity on
    # the Channels page ("@alice in acme"); empty when it never said.
    handle: Mapped[str] = mapped_column(String(CHAT_NAME_MAX), default="", server_default="")
    workspace_name: Mapped[str] = mapped_column(String(CHAT_NAME_MAX), default="", server_default="")
    # The language its messages are written in: the person's own on the platform (Slack's
    # users.info locale, Discord's interaction locale) as last seen; for a channel, the language
    # of whoever last made it follow an event. None when the platform never said.
    locale: Mapped[str | None] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    user: Mapped[User] = relationship(back_populates="chat_identities")

    @property
    def label(self) -> str:
        """How the Channels page names it: "Slack: @alice in acme workspace", "Discord: @alice"."""
        who = f"@{self.handle}" if self.handle else "your account"
        where = f" in {self.workspace_name} workspace" if self.workspace_name else ""
        return f"{ChatPlatform(self.platform).display_name}: {who}{where}"

    @property
    def is_channel(self) -> bool:
        return self.kind == ChatIdentityKind.CHANNEL


class ChatConnectCode(db.Model):
    """A one-time code a signed-in person types in chat (`connect ABCD-1234`) to join that chat
    account with theirs: being signed in proves the account, typing it proves the chat account.
    Only a hash is kept; a used code stays (with ``used_at``) so reusing it is told apart."""

    __tablename__ = "chat_connect_codes"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    platform: Mapped[str] = mapped_column(String(16))
    code_hash: Mapped[str] = mapped_column(String(64), unique=True)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
