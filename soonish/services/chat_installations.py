"""Installing our chat apps per workspace: keep an installation, remove one (an uninstall, a
revoked or refused token, a server the bot left) and tell who added it, rotate their tokens."""
import logging
from dataclasses import dataclass

from flask import current_app
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from soonish.domain import chat_installations as installations
from soonish.domain import outbox
from soonish.domain.chat_installations import InstalledBot
from soonish.domain.chat_markup import ChatPlatform
from soonish.models import ChatIdentity, ChatInstallation, Subscription, User, db
from soonish.domain.delivery.mail import OneOffKind
from soonish.services.errors import NotFound, Unavailable
from soonish.services.integrations import cipher
from soonish.i18n import _l

log = logging.getLogger(__name__)

INSTALL_STATE_SECONDS = 600  # Slack's own flow allows ten minutes between the button and the callback


def install(bot: InstalledBot, installed_by_id: int | None = None,
            workspaces: list[tuple[str, str]] = ()) -> ChatInstallation:
    installation = installations.save(bot, cipher(), installed_by_id, workspaces)
    db.session.commit()
    log.info("%s app installed in %s (%s)", bot.platform, bot.workspace_id, bot.workspace_name)
    return installation


def grant_org_workspaces(enterprise_id: str, team_ids: list[str]) -> None:
    installations.grant(ChatPlatform.SLACK.value, enterprise_id, [(team, "") for team in team_ids])
    db.session.commit()


def remove(platform: str, workspace_ids: list[str], reason: str, enterprise_id: str | None = None) -> list[ChatInstallation]:
    """The app is gone from these workspaces: mark them, end their channel follows, and mail
    whoever added it (once, however many events say so)."""
    removal = installations.remove(platform, workspace_ids, reason, enterprise_id)
    for event in {subscription.event for subscription in removal.ended}:
        outbox.reminders_changed(event)
    for installation in removal.to_tell:
        if installation.installed_by_id is not None:
            outbox.one_off_mail(OneOffKind.CHAT_REMOVED, installation.id)
    db.session.commit()
    for installation in removal.installations:
        log.warning("%s app removed from %s: %s", platform, installation.workspace_id, reason)
    return removal.installations


def add_server(guild_id: str, name: str) -> None:
    """Our Discord bot is in this server (added, or found there at connect)."""
    installations.save(InstalledBot(ChatPlatform.DISCORD.value, guild_id, name), cipher())
    db.session.commit()


def left_server(guild_id: str, channel_ids: list[str]) -> None:
    """Our Discord bot left (or was removed from) a server: its channels follow nothing more.
    Discord's ids are global, so a channel's identity names no server: its channels are
    the ones the server had."""
    ended = installations.end_channels(ChatPlatform.DISCORD.value, channel_ids)
    installations.remove(ChatPlatform.DISCORD.value, [guild_id], installations.LEFT_SERVER)
    for event in {subscription.event for subscription in ended}:
        outbox.reminders_changed(event)
    db.session.commit()
    log.warning("Discord bot left server %s: %d channel follows ended", guild_id, len(ended))


def added_by(user: User) -> list[ChatInstallation]:
    """The Slack workspaces (organization rows, not each of their workspaces) ``user`` added
    our app to, for their Channels page."""
    return [i for i in installations.installations_of(ChatPlatform.SLACK.value, user.id)
            if not i.is_enterprise_install or i.workspace_id == i.enterprise_id]


@dataclass
class WorkspaceOverview:
    installation: ChatInstallation
    channels: list[tuple[ChatIdentity, list[Subscription]]]  # the channels following, with their follows
    linked: list[ChatIdentity]  # people who joined their account with Soonish


def manageable(user: User, installation_id: int) -> ChatInstallation:
    """A Slack installation ``user`` may see and remove: they added it, or they are an admin
    (or owner) of its workspace by a Slack account linked to theirs (asked of Slack)."""
    installation = db.session.get(ChatInstallation, installation_id)
    if installation is None or installation.platform != ChatPlatform.SLACK.value:
        raise NotFound(_l("No such workspace."))
    if installation.installed_by_id == user.id or _slack_admin(user, installation):
        return installation
    raise NotFound(_l("No such workspace."))  # not theirs: as if it weren't there


def _slack_admin(user: User, installation: ChatInstallation) -> bool:
    token = installations.bot_token(installation, cipher()) if installation.is_active else None
    if token is None:
        return False
    workspaces = installations.covered_workspaces(installation)
    client = WebClient(token=token, base_url=current_app.config["SLACK_API_URL"], timeout=10)
    for identity in user.chat_identities:
        if identity.platform != ChatPlatform.SLACK.value or identity.workspace_id not in workspaces or identity.is_channel:
            continue
        try:
            profile = client.users_info(user=identity.external_user_id)["user"]
        except (SlackApiError, OSError):
            continue
        if profile.get("is_admin") or profile.get("is_owner"):
            return True
    return False


def overview(user: User, installation_id: int) -> WorkspaceOverview:
    installation = manageable(user, installation_id)
    workspaces = installations.covered_workspaces(installation)
    return WorkspaceOverview(installation, installations.channel_follows(ChatPlatform.SLACK.value, workspaces),
                             installations.linked_people(ChatPlatform.SLACK.value, workspaces))


def uninstall(user: User, installation_id: int) -> ChatInstallation:
    """Remove our app from the workspace at Slack (apps.uninstall revokes its tokens), then here."""
    installation = manageable(user, installation_id)
    if not installation.is_active:
        return installation
    token = installations.bot_token(installation, cipher())
    config = current_app.config
    try:
        WebClient(token=token, base_url=config["SLACK_API_URL"], timeout=10).apps_uninstall(
            client_id=config["SLACK_CLIENT_ID"], client_secret=config["SLACK_CLIENT_SECRET"])
    except SlackApiError as exc:  # a token already dead is as good as uninstalled
        log.warning("apps.uninstall refused: %s", exc.response.get("error"))
    except OSError as exc:
        raise Unavailable(_l("Slack can't be reached right now; try again in a minute.")) from exc
    remove(ChatPlatform.SLACK.value, [installation.workspace_id], installations.UNINSTALLED,
           installation.enterprise_id if installation.is_enterprise_install else None)
    return installation


def rotate_encryption() -> int:
    """Re-encrypt every installation's token with the newest key; how many."""
    count = installations.rotate(cipher())
    db.session.commit()
    return count


def issue_install_state(user_id: int | None) -> str:
    state = installations.issue_state("slack_install", INSTALL_STATE_SECONDS, user_id)
    db.session.commit()
    return state


def consume_install_state(state: str | None) -> bool:
    consumed = installations.consume_state(state, "slack_install") is not None
    db.session.commit()
    return consumed
