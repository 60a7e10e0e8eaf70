"""Slack adapter: the /soonish slash command, the Subscribe buttons of `events`, and the RSVP and
"Follow this event" buttons under posts, over
bots.core. Served over HTTP at /slack/events (the Flask app mounts it) or through Socket Mode
(`soonish bot slack`) for installs without a public URL."""
import logging
import re
import signal
import threading
from collections.abc import Callable
from functools import cache

from flask import Flask
from slack_bolt import App, BoltResponse
from slack_bolt.adapter.socket_mode import SocketModeHandler
from slack_bolt.oauth.callback_options import CallbackOptions
from slack_bolt.oauth.oauth_settings import OAuthSettings
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from soonish.domain.chat_buttons import SLACK_ACTION_PREFIX, SLACK_FOLLOW_ACTION, parse_slack_action, parse_slack_follow
from soonish.config import slack_installs_per_workspace
from soonish.domain.chat_markup import SLACK, ChatPlatform, slack_escape
from soonish.domain import chat_installations as installations
from soonish.i18n import _, _l, render_in
from soonish.links import public_url
from soonish.services import chat_installations
from soonish.bots.core import Commands, Reply, Speaker, more_line
from soonish.bots.slack_installs import Installer, SoonishInstallationStore, SoonishStateStore

log = logging.getLogger(__name__)

COMMAND = "/soonish"
SUBSCRIBE_ACTION = "subscribe_event"
# Block Kit's limits: Slack refuses a whole message with more blocks, or a longer section text
# (a 52-event `list` used to show nothing at all).
BLOCKS_MAX = 50
SECTION_TEXT_MAX = 3000
# Slack's DM ("D…") and group DM ("G…" with this name prefix) channels, where no channel can follow.
DIRECT_MESSAGE_NAMES = ("directmessage", "mpdm-")


def section_text(text: str) -> str:
    """``text`` within a section's limit, cut at a line break so no link or date token is split."""
    if len(text) <= SECTION_TEXT_MAX:
        return text
    cut = text.rfind("\n", 0, SECTION_TEXT_MAX - 1)
    return text[:cut if cut > 0 else SECTION_TEXT_MAX - 1] + "…"


# Said when bolt can't make its first call to Slack (auth.test, on a process's first request):
# the person gets an answer instead of an error page, and the next request asks Slack again.
SLACK_UNREACHABLE = _l("Soonish can't reach Slack right now; try again in a minute.")

PRESS_ACTION_PREFIX = "soonish_press_"  # + the value with "_" for ":"; the value names the pending action


def render(reply: Reply) -> dict:
    """Block Kit: the reply's text, then one section per event (with a Subscribe button in
    `events`); a list longer than a message holds ends with where to read the rest. All in the
    reply's language."""
    with render_in(reply.locale):
        return _blocks(reply)


def _blocks(reply: Reply) -> dict:
    text = section_text(slack_escape(reply.text))
    blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": text}}]
    room = BLOCKS_MAX - len(blocks) - (1 if reply.actions else 0)  # the buttons' block stays
    shown = reply.events if len(reply.events) <= room else reply.events[:room - 1]
    for item in shown:
        block = {"type": "section", "text": {"type": "mrkdwn", "text": section_text(item.markup(SLACK))}}
        if item.can_subscribe:
            block["accessory"] = {
                "type": "button", "action_id": SUBSCRIBE_ACTION, "value": item.slug,
                "text": {"type": "plain_text", "text": _("Subscribe")},
            }
        blocks.append(block)
    if hidden := len(reply.events) - len(shown):
        blocks.append({"type": "context",
                       "elements": [{"type": "mrkdwn", "text": more_line(SLACK, hidden, reply.more_url)}]})
    if reply.actions:
        blocks.append({"type": "actions", "elements": [
            # Action ids are unique within a message (two "Create" choices may stand side by side).
            {"type": "button", "action_id": PRESS_ACTION_PREFIX + action.value.replace(":", "_"), "value": action.value,
             "text": {"type": "plain_text", "text": action.label}, **({"style": "primary"} if action.primary else {})}
            for action in reply.actions
        ]})
    return {"text": text, "blocks": blocks, "response_type": "ephemeral"}


def answer(respond, reply: Reply, **options) -> None:
    """Send ``reply`` to the command's response URL; a refusal is logged with Slack's own words."""
    response = respond(**render(reply), **options)
    if response is not None and response.status_code != 200:
        log.error("Slack refused a reply: HTTP %s %s", response.status_code, response.body)


def manages_channel(client: WebClient, profile: Callable[[], dict], user_id: str, channel_id: str) -> bool:
    """Workspace admins and owners (``profile``: ``user_profile``), and the channel's creator,
    manage a channel."""
    try:
        user = profile()
        if user.get("is_admin") or user.get("is_owner"):
            return True
        return client.conversations_info(channel=channel_id)["channel"].get("creator") == user_id
    except SlackApiError:
        return False


def cannot_post_in(client: WebClient, channel_id: str) -> str | None:
    """Whether the bot can post in the channel, checked before a follow is promised: a bot that
    is not a member gets `not_in_channel` on every post. A public channel is joined when the app
    has `channels:join`; otherwise the person is told how to invite the bot."""
    invite = _("Invite me first: type `/invite @Soonish` in this channel (or open the channel's "
               "details → Integrations → Add apps), then run the command again.")
    try:
        answer = client.conversations_info(channel=channel_id)
    except SlackApiError as exc:
        log.warning("conversations.info refused for %s: %s", channel_id, exc.response.get("error"))
        return _("I can't see this channel. %(invite)s", invite=invite)
    channel = answer["channel"]
    if channel.get("is_member"):
        return None
    if channel.get("is_private"):
        return _("This is a private channel I'm not in. %(invite)s", invite=invite)
    # Slack names the token's scopes on every answer: with chat:write.public the bot posts in
    # any public channel without joining it.
    headers = {name.lower(): value for name, value in answer.headers.items()}
    if "chat:write.public" in headers.get("x-oauth-scopes", "").replace(" ", "").split(","):
        return None
    try:
        client.conversations_join(channel=channel_id)
        return None
    except SlackApiError as exc:
        log.info("could not join %s: %s", channel_id, exc.response.get("error"))
        return _("I'm not a member of this channel. %(invite)s", invite=invite)


def in_direct_message(channel: dict) -> bool:
    return str(channel.get("id", "")).startswith("D") or str(channel.get("name", "")).startswith(DIRECT_MESSAGE_NAMES)


def user_profile(client: WebClient, user_id: str) -> Callable[[], dict]:
    """The person's Slack profile (users.info, with their language: `include_locale`), asked
    once, at its first use: its `tz` is the IANA zone, its `locale` Slack's ("fr-FR")."""
    @cache
    def profile() -> dict:
        try:
            return client.users_info(user=user_id, include_locale=True)["user"]
        except SlackApiError:
            return {}
    return profile


def speaker(client: WebClient, team_id: str, user: dict, channel: dict, team_domain: str = "") -> Speaker:
    profile = user_profile(client, user["id"])
    return Speaker(
        platform=SLACK, workspace_id=team_id, user_id=user["id"], display_name=user.get("name", ""),
        workspace_name=team_domain,
        channel_id=channel.get("id"), channel_name=channel.get("name", ""),
        in_direct_message=in_direct_message(channel),
        manages_channel=lambda: manages_channel(client, profile, user["id"], channel.get("id", "")),
        cannot_post_here=lambda: cannot_post_in(client, channel.get("id", "")),
        timezone=lambda: profile().get("tz"),
        locale=lambda: profile().get("locale"),
    )


def action_speaker(client: WebClient, body: dict) -> Speaker:
    """Who pressed a button, from an interaction payload."""
    return speaker(client, body["team"]["id"], body["user"], body.get("channel") or {}, body["team"].get("domain", ""))


INSTALL_PATH = "/slack/install"
REDIRECT_PATH = "/slack/oauth_redirect"


def token_options(flask_app: Flask, installer: Installer, pages: CallbackOptions | None) -> dict:
    """How bolt finds the token of a request: per workspace from our installations (and with
    ``pages``, serving the OAuth flow that makes them), or the one configured token."""
    config = flask_app.config
    if not slack_installs_per_workspace(config):
        return dict(client=WebClient(token=config["SLACK_BOT_TOKEN"], base_url=config["SLACK_API_URL"]))
    store = SoonishInstallationStore(flask_app, installer)
    # What a command from a workspace without an installation is told (events are ignored, 200).
    not_installed = (f"Soonish isn't installed in this workspace (any more). A workspace admin can add it: "
                     f"{public_url(config['PUBLIC_URL'], INSTALL_PATH)}")
    options = dict(client=WebClient(base_url=config["SLACK_API_URL"]), installation_store=store,
                   installation_store_bot_only=True, user_facing_authorize_error_message=not_installed)
    if pages is not None:
        options["oauth_settings"] = OAuthSettings(
            client_id=config["SLACK_CLIENT_ID"], client_secret=config["SLACK_CLIENT_SECRET"],
            scopes=config["SLACK_SCOPES"],
            # Fixed by configuration, never taken from the request.
            redirect_uri=public_url(config["PUBLIC_URL"], REDIRECT_PATH),
            install_path=INSTALL_PATH, redirect_uri_path=REDIRECT_PATH, install_page_rendering_enabled=False,
            authorization_url=config["SLACK_AUTHORIZE_URL"], installation_store=store,
            installation_store_bot_only=True, state_store=SoonishStateStore(flask_app, installer),
            state_expiration_seconds=chat_installations.INSTALL_STATE_SECONDS, callback_options=pages,
        )
    return options


def build_app(flask_app: Flask, socket_mode: bool = False, installer: Installer = lambda: None,
              pages: CallbackOptions | None = None) -> App:
    """The Slack app; ``installer`` says who is pressing "Add to Slack", ``pages`` answer the
    end of the OAuth flow (the web app's; Socket Mode serves no OAuth flow)."""
    config = flask_app.config
    commands = Commands(flask_app)
    app = App(
        **token_options(flask_app, installer, pages),
        signing_secret=config["SLACK_SIGNING_SECRET"],
        # Socket Mode requests come over our own authenticated connection, unsigned.
        request_verification_enabled=not socket_mode,
        # No auth.test call at start: a process must start even while Slack is unreachable.
        token_verification_enabled=False,
        # Ack first (Slack waits 3 s at most); bolt runs the rest of the listener on a thread.
        process_before_response=False,
    )

    @app.error
    def on_error(error: Exception):
        """Errors bolt did not handle. Slack out of reach (refused, timed out: an OSError, as
        urllib's URLError is) gets a 200 with an ephemeral answer; Slack shows it to a command's
        author and ignores it for a button. Anything else stays the 500 it was, logged."""
        if isinstance(error, OSError):
            log.warning("Slack unreachable while handling a request: %s", error)
            return BoltResponse(status=200, body={"response_type": "ephemeral", "text": str(SLACK_UNREACHABLE)})
        log.error("Slack request failed", exc_info=error)
        return None

    @app.command(COMMAND)
    def on_command(ack, command, respond, client):
        ack()
        who = speaker(client, command["team_id"], {"id": command["user_id"], "name": command.get("user_name", "")},
                      {"id": command.get("channel_id"), "name": command.get("channel_name", "")},
                      command.get("team_domain", ""))
        answer(respond, commands.run(who, command.get("text", "")))

    @app.action(SUBSCRIBE_ACTION)
    def on_subscribe_button(ack, body, respond, client):
        ack()
        who = action_speaker(client, body)
        answer(respond, commands.subscribe(who, body["actions"][0]["value"]), replace_original=False)

    @app.action(re.compile("^" + re.escape(PRESS_ACTION_PREFIX)))
    def on_press(ack, body, respond, client):
        """Confirm / Never mind under a create or cancel preview."""
        ack()
        who = action_speaker(client, body)
        answer(respond, commands.press(who, str(body["actions"][0].get("value", ""))), replace_original=True)

    @app.action(re.compile("^" + re.escape(SLACK_ACTION_PREFIX)))
    def on_rsvp_button(ack, body, respond, client):
        """Going / Maybe / Can't go under a DM or a channel post: whoever presses answers for
        themselves; the post stays as it is and the answer comes back only to them."""
        ack()
        action = body["actions"][0]
        pressed = parse_slack_action(action.get("action_id", ""), str(action.get("value", "")))
        if pressed is None:
            return
        who = action_speaker(client, body)
        answer(respond, commands.rsvp_button(who, *pressed), replace_original=False)

    @app.action(SLACK_FOLLOW_ACTION)
    def on_follow_button(ack, body, respond, client):
        """"Follow this event" under a community's new-event post (a DM or a channel): whoever
        presses it follows the event, in their DMs; the answer comes back only to them."""
        ack()
        event_id = parse_slack_follow(str(body["actions"][0].get("value", "")))
        if event_id is None:
            return
        answer(respond, commands.follow_button(action_speaker(client, body), event_id), replace_original=False)

    def removed(context, reason: str) -> None:
        """The app is gone from the request's workspace (or its whole organization)."""
        with flask_app.app_context():
            chat_installations.remove(ChatPlatform.SLACK.value,
                                      [context.team_id or context.enterprise_id or ""], reason,
                                      context.enterprise_id if context.is_enterprise_install else None)

    @app.event("app_uninstalled")
    def on_uninstalled(ack, context):
        ack()
        removed(context, installations.UNINSTALLED)

    @app.event("team_access_granted")
    def on_team_access_granted(ack, event, context):
        """An org-wide install reaches more workspaces: each gets the organization's token."""
        ack()
        if context.enterprise_id:
            with flask_app.app_context():
                chat_installations.grant_org_workspaces(context.enterprise_id, list(event.get("team_ids") or []))

    @app.event("team_access_revoked")
    def on_team_access_revoked(ack, event):
        ack()
        with flask_app.app_context():
            chat_installations.remove(ChatPlatform.SLACK.value, list(event.get("team_ids") or []),
                                      installations.ACCESS_REVOKED)

    @app.event("tokens_revoked")
    def on_tokens_revoked(ack, event, context):
        """Only the bot's tokens matter: we keep no user tokens."""
        ack()
        if (event.get("tokens") or {}).get("bot"):
            removed(context, installations.TOKENS_REVOKED)

    return app


def socket_mode_handler(flask_app: Flask) -> SocketModeHandler:
    """Serves the app over Socket Mode: ``start()`` blocks, ``connect()`` returns."""
    return SocketModeHandler(build_app(flask_app, socket_mode=True), flask_app.config["SLACK_APP_TOKEN"])


def run_socket_mode(flask_app: Flask) -> None:
    """Serve Slack over Socket Mode until SIGINT or SIGTERM, then close the connection cleanly."""
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    handler = socket_mode_handler(flask_app)
    handler.connect()
    log.info("Slack bot connected over Socket Mode")
    stop.wait()
    handler.close()
