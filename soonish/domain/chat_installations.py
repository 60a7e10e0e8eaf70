"""Where our chat app is installed, and with which token: one installation per Slack workspace
(an Enterprise Grid org-wide install maps each of its workspaces) and per Discord server.

Tokens are stored encrypted with the field cipher (SOONISH_ENCRYPTION_KEYS), so `soonish
rotate-keys` covers them, and are decrypted only to make a call. A removed installation (the
app uninstalled, its token revoked or refused) stops every send to its workspace: the send
fails with ``REMOVED_REASON`` and a DM falls back to email as for closed DMs; the workspace's
channel follows end. Plain Python over the models: callers commit."""
import hashlib
import logging
import secrets
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import delete, select, update

from soonish.crypto import FieldCipher
from soonish.i18n import _l
from soonish.field_limits import CHAT_NAME_MAX
from soonish.models import (
    ChatIdentity, ChatIdentityKind, ChatInstallation, OAuthState, SeriesFollow, Subscription, SubscriptionStatus, User,
    db, utcnow,
)

log = logging.getLogger(__name__)

REMOVED_REASON = "Soonish was removed from this workspace"
# Why an installation ended (kept on its row, shown on the workspace's page).
UNINSTALLED = "app_uninstalled"
TOKENS_REVOKED = "tokens_revoked"
TOKEN_REFUSED = "token_refused"  # a send's token refused, and auth.test confirmed it
LEFT_SERVER = "guild_delete"
ACCESS_REVOKED = "team_access_revoked"  # an org-wide install taken away from one workspace
REMOVED_WHY = {UNINSTALLED: _l("the app was uninstalled"), TOKENS_REVOKED: _l("its access was revoked"),
               ACCESS_REVOKED: _l("the organization took the workspace out of the app's reach"),
               TOKEN_REFUSED: _l("it no longer accepts our app's token"), LEFT_SERVER: _l("the bot left the server")}


@dataclass(frozen=True)
class InstalledBot:
    """What an OAuth install gave us for one workspace (or a Grid organization)."""

    platform: str
    workspace_id: str
    workspace_name: str = ""
    enterprise_id: str | None = None
    is_enterprise_install: bool = False
    app_id: str | None = None
    bot_token: str | None = None
    bot_id: str | None = None
    bot_user_id: str | None = None
    bot_scopes: str = ""
    installer_external_id: str | None = None


@dataclass(frozen=True)
class WorkspaceBot:
    """How a send reaches one workspace: with its installation's token, or not at all (removed).
    No installation at all: the deployment's single token (``token`` empty, not removed)."""

    token: str = ""
    removed: bool = False


def save(bot: InstalledBot, cipher: FieldCipher, installed_by_id: int | None = None,
         workspaces: list[tuple[str, str]] = ()) -> ChatInstallation:
    """Keep ``bot``'s installation (a reinstall replaces the token and brings a removed one
    back); for an org-wide install also each of ``workspaces`` ((team id, name)) it covers."""
    token = cipher.encrypt(bot.bot_token) if bot.bot_token else None
    fields = dict(
        enterprise_id=bot.enterprise_id, is_enterprise_install=bot.is_enterprise_install, app_id=bot.app_id,
        bot_token_encrypted=token, bot_id=bot.bot_id, bot_user_id=bot.bot_user_id, bot_scopes=bot.bot_scopes[:1000],
        installer_external_id=bot.installer_external_id, installed_at=utcnow(), removed_at=None, removed_reason=None,
    )
    if installed_by_id is not None:
        fields["installed_by_id"] = installed_by_id
    main = _upsert(bot.platform, bot.workspace_id, bot.workspace_name, fields)
    for workspace_id, name in workspaces:
        _upsert(bot.platform, workspace_id, name, fields)
    return main


def _upsert(platform: str, workspace_id: str, name: str, fields: dict) -> ChatInstallation:
    installation = db.session.scalar(select(ChatInstallation).where(
        ChatInstallation.platform == platform, ChatInstallation.workspace_id == workspace_id).with_for_update())
    if installation is None:
        installation = ChatInstallation(platform=platform, workspace_id=workspace_id)
        db.session.add(installation)
    for key, value in fields.items():
        setattr(installation, key, value)
    installation.workspace_name = (name or installation.workspace_name or "")[:CHAT_NAME_MAX]
    db.session.flush()
    return installation


def grant(platform: str, enterprise_id: str, workspaces: list[tuple[str, str]]) -> list[ChatInstallation]:
    """An org-wide install granted more workspaces (Slack's team_access_granted): each served
    with the organization's token from now on."""
    org = find(platform, enterprise_id, enterprise_id)
    if org is None or not org.is_enterprise_install:
        return []
    fields = {column: getattr(org, column) for column in (
        "enterprise_id", "is_enterprise_install", "app_id", "bot_token_encrypted", "bot_id", "bot_user_id",
        "bot_scopes", "installer_external_id", "installed_by_id")}
    fields.update(installed_at=utcnow(), removed_at=None, removed_reason=None)
    return [_upsert(platform, workspace_id, name, fields) for workspace_id, name in workspaces]


def find(platform: str, workspace_id: str | None, enterprise_id: str | None = None,
         active_only: bool = True) -> ChatInstallation | None:
    """The installation serving ``workspace_id``: its own, else its organization's org-wide one."""
    query = select(ChatInstallation).where(ChatInstallation.platform == platform)
    if active_only:
        query = query.where(ChatInstallation.removed_at.is_(None))
    if workspace_id:
        found = db.session.scalar(query.where(ChatInstallation.workspace_id == workspace_id))
        if found is not None:
            return found
    if enterprise_id:
        return db.session.scalar(query.where(
            ChatInstallation.enterprise_id == enterprise_id, ChatInstallation.is_enterprise_install.is_(True),
        ).order_by(ChatInstallation.id))
    return None


def workspace_bots(platform_workspaces: set[tuple[str, str]], cipher: FieldCipher) -> dict[tuple[str, str], WorkspaceBot]:
    """How each (platform, workspace id) is reached, for planning a batch's sends: one query."""
    wanted = {pair for pair in platform_workspaces if pair[1]}
    if not wanted:
        return {}
    rows = db.session.scalars(select(ChatInstallation).where(
        ChatInstallation.workspace_id.in_({workspace for _, workspace in wanted})))
    found = {}
    for row in rows:
        if (row.platform, row.workspace_id) not in wanted:
            continue
        token = cipher.decrypt(row.bot_token_encrypted) if row.bot_token_encrypted is not None and row.is_active else ""
        found[(row.platform, row.workspace_id)] = WorkspaceBot(token=token, removed=not row.is_active)
    return found


def bot_token(installation: ChatInstallation, cipher: FieldCipher) -> str | None:
    return cipher.decrypt(installation.bot_token_encrypted) if installation.bot_token_encrypted is not None else None


@dataclass
class Removal:
    installations: list[ChatInstallation]  # the ones this call removed
    ended: list[Subscription]  # the channel follows that ended with them

    @property
    def to_tell(self) -> list[ChatInstallation]:
        """The installations whose installer hears of it: an org-wide install's organization
        row stands for its workspaces' rows."""
        return [i for i in self.installations if not i.is_enterprise_install or i.workspace_id == i.enterprise_id]


def remove(platform: str, workspace_ids: list[str], reason: str, enterprise_id: str | None = None) -> Removal:
    """Mark the installations of ``workspace_ids`` (or every one of an organization's org-wide
    install) removed, and end the channel follows of those workspaces. Only the installations
    this call removed count: two uninstall events at once remove (and tell) once."""
    where = [ChatInstallation.platform == platform, ChatInstallation.removed_at.is_(None)]
    if enterprise_id:
        where.append((ChatInstallation.workspace_id.in_(workspace_ids)) | (
            (ChatInstallation.enterprise_id == enterprise_id) & ChatInstallation.is_enterprise_install.is_(True)))
    else:
        where.append(ChatInstallation.workspace_id.in_(workspace_ids))
    ids = db.session.scalars(select(ChatInstallation.id).where(*where)).all()
    if not ids:
        return Removal([], [])
    now = utcnow()
    # Conditional on still being active: a concurrent removal updates none of the same rows.
    removed_ids = db.session.scalars(
        update(ChatInstallation).where(ChatInstallation.id.in_(ids), ChatInstallation.removed_at.is_(None))
        .values(removed_at=now, removed_reason=reason[:200], bot_token_encrypted=None)
        .returning(ChatInstallation.id), execution_options={"synchronize_session": False}
    ).all()
    removed = db.session.scalars(select(ChatInstallation).where(ChatInstallation.id.in_(removed_ids))
                                 .execution_options(populate_existing=True)).all()
    return Removal(list(removed), end_channel_follows(platform, [r.workspace_id for r in removed]))


def remove_workspace(platform: str, workspace_id: str, reason: str) -> Removal:
    """``remove`` for one workspace; of an org-wide install, every workspace of its organization
    (they share its token)."""
    found = find(platform, workspace_id)
    enterprise_id = found.enterprise_id if found is not None and found.is_enterprise_install else None
    return remove(platform, [workspace_id], reason, enterprise_id)


def end_channel_follows(platform: str, workspace_ids: list[str]) -> list[Subscription]:
    """The workspaces' channels follow nothing more (events nor series); returns the
    subscriptions that ended."""
    if not workspace_ids:
        return []
    return _end_follows_of(select(ChatIdentity.user_id).where(
        ChatIdentity.platform == platform, ChatIdentity.workspace_id.in_(workspace_ids),
        ChatIdentity.kind == ChatIdentityKind.CHANNEL))


def end_channels(platform: str, channel_ids: list[str]) -> list[Subscription]:
    """These channels follow nothing more (a Discord server's, whose ids are global)."""
    if not channel_ids:
        return []
    return _end_follows_of(select(ChatIdentity.user_id).where(
        ChatIdentity.platform == platform, ChatIdentity.external_user_id.in_(channel_ids),
        ChatIdentity.kind == ChatIdentityKind.CHANNEL))


def _end_follows_of(channel_users) -> list[Subscription]:
    ended = db.session.scalars(select(Subscription).where(
        Subscription.user_id.in_(channel_users), Subscription.status == SubscriptionStatus.ACTIVE)).all()
    for subscription in ended:
        subscription.status = SubscriptionStatus.UNSUBSCRIBED
    db.session.execute(delete(SeriesFollow).where(SeriesFollow.user_id.in_(channel_users)))
    return list(ended)


def covered_workspaces(installation: ChatInstallation) -> list[str]:
    """The workspaces an installation serves: itself, and for an org-wide install each of its
    organization's."""
    if not installation.is_enterprise_install:
        return [installation.workspace_id]
    return list(db.session.scalars(select(ChatInstallation.workspace_id).where(
        ChatInstallation.platform == installation.platform, ChatInstallation.enterprise_id == installation.enterprise_id,
        ChatInstallation.is_enterprise_install.is_(True))))


def channel_follows(platform: str, workspace_ids: list[str]) -> list[tuple[ChatIdentity, list[Subscription]]]:
    """The workspaces' channels that follow events, each with its active follows."""
    rows = db.session.execute(select(ChatIdentity, Subscription).join(
        Subscription, Subscription.user_id == ChatIdentity.user_id).where(
        ChatIdentity.platform == platform, ChatIdentity.workspace_id.in_(workspace_ids),
        ChatIdentity.kind == ChatIdentityKind.CHANNEL, Subscription.status == SubscriptionStatus.ACTIVE,
    ).order_by(ChatIdentity.id, Subscription.id)).all()
    by_channel: dict[int, tuple[ChatIdentity, list[Subscription]]] = {}
    for identity, subscription in rows:
        by_channel.setdefault(identity.id, (identity, []))[1].append(subscription)
    return list(by_channel.values())


def linked_people(platform: str, workspace_ids: list[str]) -> list[ChatIdentity]:
    """The workspaces' people whose chat account is joined with a Soonish account."""
    return list(db.session.scalars(select(ChatIdentity).join(User, User.id == ChatIdentity.user_id).where(
        ChatIdentity.platform == platform, ChatIdentity.workspace_id.in_(workspace_ids),
        ChatIdentity.kind == ChatIdentityKind.USER, User.email.is_not(None),
    ).order_by(ChatIdentity.id)))


def rotate(cipher: FieldCipher) -> int:
    """Re-encrypt every stored bot token with the newest key; how many."""
    count = 0
    query = select(ChatInstallation).where(ChatInstallation.bot_token_encrypted.is_not(None))
    for installation in db.session.scalars(query).yield_per(500):
        installation.bot_token_encrypted = cipher.rotate(installation.bot_token_encrypted)
        count += 1
    return count


def installations_of(platform: str, installed_by_id: int) -> list[ChatInstallation]:
    """The workspaces a person added our app to (newest first), for their Channels page."""
    return list(db.session.scalars(select(ChatInstallation).where(
        ChatInstallation.platform == platform, ChatInstallation.installed_by_id == installed_by_id,
    ).order_by(ChatInstallation.installed_at.desc(), ChatInstallation.id.desc())))


# OAuth state ----------------------------------------------------------------------------------

def _state_hash(state: str) -> str:
    return hashlib.sha256(state.encode()).hexdigest()


def issue_state(purpose: str, seconds: int, user_id: int | None = None) -> str:
    """A new ``state`` for an OAuth flow, good once for ``seconds``; only its hash is stored."""
    state = secrets.token_urlsafe(32)
    db.session.add(OAuthState(state_hash=_state_hash(state), purpose=purpose, user_id=user_id,
                              expires_at=utcnow() + timedelta(seconds=seconds)))
    return state


def consume_state(state: str | None, purpose: str) -> OAuthState | None:
    """The flow ``state`` began, if it is known, unexpired, unused and for ``purpose``; marks it
    used in the same statement, so of two callbacks with one state only one gets it."""
    if not state:
        return None
    now = utcnow()
    used = db.session.execute(
        update(OAuthState).where(
            OAuthState.state_hash == _state_hash(state), OAuthState.purpose == purpose,
            OAuthState.used_at.is_(None), OAuthState.expires_at > now,
        ).values(used_at=now), execution_options={"synchronize_session": False})
    if used.rowcount != 1:
        return None
    return db.session.scalar(select(OAuthState).where(OAuthState.state_hash == _state_hash(state)))
