"""slack-bolt's OAuth flow over our database: slack_sdk's ``InstallationStore`` and
``OAuthStateStore`` interfaces implemented on our models.

Not slack_sdk's own SQLAlchemyInstallationStore: it keeps tokens in plain text in tables of its
own, outside our migrations, and `soonish rotate-keys` could not re-encrypt them. Here a token
is encrypted with SOONISH_ENCRYPTION_KEYS like every other secret we hold, an uninstall marks
the row (so a send to that workspace fails with why, instead of using a dead token), and the
Soonish account that pressed "Add to Slack" is kept with the installation."""
import logging
from collections.abc import Callable
from datetime import datetime, timezone

from flask import Flask
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.oauth.installation_store import Bot, Installation, InstallationStore
from slack_sdk.oauth.state_store import OAuthStateStore

from soonish.domain.chat_markup import ChatPlatform
from soonish.domain import chat_installations as installations
from soonish.domain.chat_installations import InstalledBot
from soonish.services import chat_installations
from soonish.services.integrations import cipher

log = logging.getLogger(__name__)

# Who is installing: the signed-in Soonish account's id, or None.
Installer = Callable[[], int | None]
# bolt's own line for a request from a workspace with no installation, at ERROR on every
# request; find_bot says it once per workspace instead.
BOLT_NOT_INSTALLED = "Although the app should be installed into this workspace"


class _NotInstalledOnce(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith(BOLT_NOT_INSTALLED)


logging.getLogger("slack_bolt.MultiTeamsAuthorization").addFilter(_NotInstalledOnce())


class _OnOurDatabase:
    """A store of slack_sdk's over our models: each call in an app context of its own (bolt
    calls from its listener threads and Socket Mode, outside any request)."""

    def __init__(self, app: Flask, installer: Installer) -> None:
        self.app = app
        self.installer = installer

    @property
    def logger(self) -> logging.Logger:
        return log


class SoonishStateStore(_OnOurDatabase, OAuthStateStore):
    """The OAuth ``state``: issued per "Add to Slack" press, stored hashed, consumed once."""

    def issue(self, *args, **kwargs) -> str:
        with self.app.app_context():
            return chat_installations.issue_install_state(self.installer())

    def consume(self, state: str) -> bool:
        with self.app.app_context():
            return chat_installations.consume_install_state(state)


class SoonishInstallationStore(_OnOurDatabase, InstallationStore):
    """One installation per workspace, its bot token encrypted. bolt asks ``find_bot`` on every
    request (``installation_store_bot_only``): the token of the workspace the request is from."""

    def __init__(self, app: Flask, installer: Installer) -> None:
        super().__init__(app, installer)
        self._told_not_installed: set[tuple[str | None, str | None]] = set()

    def save(self, installation: Installation) -> None:
        org_wide = bool(installation.is_enterprise_install)
        bot = InstalledBot(
            platform=ChatPlatform.SLACK.value,
            # An org-wide install is the organization's; its workspaces are listed below.
            workspace_id=(installation.enterprise_id if org_wide else installation.team_id) or "",
            workspace_name=(installation.enterprise_name if org_wide else installation.team_name) or "",
            enterprise_id=installation.enterprise_id, is_enterprise_install=org_wide, app_id=installation.app_id,
            bot_token=installation.bot_token, bot_id=installation.bot_id, bot_user_id=installation.bot_user_id,
            bot_scopes=",".join(installation.bot_scopes or []), installer_external_id=installation.user_id,
        )
        workspaces = self._org_workspaces(installation.bot_token) if org_wide else []
        with self.app.app_context():
            chat_installations.install(bot, self.installer(), workspaces)

    def save_bot(self, bot: Bot) -> None:
        raise NotImplementedError("installations are saved whole (save)")

    def _org_workspaces(self, token: str | None) -> list[tuple[str, str]]:
        """The workspaces an org-wide install covers (auth.teams.list), each mapped to it."""
        client = WebClient(token=token, base_url=self.app.config["SLACK_API_URL"])
        teams, cursor = [], None
        try:
            while True:
                answer = client.auth_teams_list(cursor=cursor, limit=100)
                teams += [(t["id"], t.get("name", "")) for t in answer.get("teams", [])]
                cursor = (answer.get("response_metadata") or {}).get("next_cursor")
                if not cursor:
                    return teams
        except SlackApiError as exc:
            log.warning("auth.teams.list refused (%s): workspaces are mapped as they are granted",
                        exc.response.get("error"))
            return teams

    def find_bot(self, *, enterprise_id: str | None, team_id: str | None,
                 is_enterprise_install: bool | None = False) -> Bot | None:
        with self.app.app_context():
            found = installations.find(ChatPlatform.SLACK.value, team_id, enterprise_id)
            if found is None or (token := installations.bot_token(found, cipher())) is None:
                if (enterprise_id, team_id) not in self._told_not_installed:
                    self._told_not_installed.add((enterprise_id, team_id))
                    log.info("requests from Slack workspace %s are ignored: Soonish is not installed there", team_id)
                return None
            return Bot(
                app_id=found.app_id, enterprise_id=found.enterprise_id, team_id=team_id or found.workspace_id,
                team_name=found.workspace_name, bot_token=token, bot_id=found.bot_id or "",
                bot_user_id=found.bot_user_id or "", bot_scopes=found.bot_scopes,
                is_enterprise_install=found.is_enterprise_install,
                installed_at=found.installed_at.astimezone(timezone.utc).timestamp()
                if isinstance(found.installed_at, datetime) else found.installed_at,
            )

    def find_installation(self, *, enterprise_id: str | None, team_id: str | None, user_id: str | None = None,
                          is_enterprise_install: bool | None = False) -> Installation | None:
        return None  # bot tokens only: bolt then asks find_bot

    def delete_bot(self, *, enterprise_id: str | None, team_id: str | None) -> None:
        with self.app.app_context():
            chat_installations.remove(ChatPlatform.SLACK.value, [team_id or enterprise_id or ""],
                                      installations.UNINSTALLED, enterprise_id)

    def delete_installation(self, *, enterprise_id: str | None, team_id: str | None, user_id: str | None = None) -> None:
        if user_id is None:
            self.delete_bot(enterprise_id=enterprise_id, team_id=team_id)
