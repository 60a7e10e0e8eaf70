"""Installing our chat apps per workspace: keep an installation, remove one (an uninstall, a
revoked or refused token, a server the bot left) and tell who added it, rotate their tokens."""
import logging

from ..domain import chat_installations as installations
from ..domain.chat_installations import InstalledBot
from ..chat_markup import ChatPlatform
from ..models import ChatInstallation, User, db
from ..temporal.shared import TransactionalMail
from .integrations import cipher
from .temporal import reminders_changed, send_one_off_mail

log = logging.getLogger(__name__)

INSTALL_STATE_SECONDS = 600  # Slack's own flow allows ten minutes between the button and the callback


def install(bot: InstalledBot, installed_by_id: int | None = None,
            workspaces: list[tuple[str, str]] = ()) -> ChatInstallation:
    installation = installations.save(bot, cipher(), installed_by_id, workspaces)
    db.session.commit()
    log.info("%s app installed in %s (%s)", bot.platform, bot.workspace_id, bot.workspace_name)
    return installation


def remove(platform: str, workspace_ids: list[str], reason: str, enterprise_id: str | None = None) -> list[ChatInstallation]:
    """The app is gone from these workspaces: mark them, end their channel follows, and mail
    whoever added it (once, however many events say so)."""
    removal = installations.remove(platform, workspace_ids, reason, enterprise_id)
    events = {subscription.event for subscription in removal.ended}
    db.session.commit()
    for event in events:
        reminders_changed(event)
    for installation in removal.installations:
        log.warning("%s app removed from %s: %s", platform, installation.workspace_id, reason)
    for installation in removal.to_tell:
        if installation.installed_by_id is not None:
            send_one_off_mail(TransactionalMail("chat_removed", installation.id), "chat removed mail")
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
    db.session.commit()
    for event in {subscription.event for subscription in ended}:
        reminders_changed(event)
    log.warning("Discord bot left server %s: %d channel follows ended", guild_id, len(ended))


def added_by(user: User) -> list[ChatInstallation]:
    """The Slack workspaces (organization rows, not each of their workspaces) ``user`` added
    our app to, for their Channels page."""
    return [i for i in installations.installations_of(ChatPlatform.SLACK.value, user.id)
            if not i.is_enterprise_install or i.workspace_id == i.enterprise_id]


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
