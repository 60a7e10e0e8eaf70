"""Slack adapter: the /soonish slash command, the Subscribe buttons of `events` and the RSVP
buttons under posts, over
bots.core. Served over HTTP at /slack/events (the Flask app mounts it) or through Socket Mode
(`soonish bot slack`) for installs without a public URL."""
import logging
import re
import signal
import threading

from flask import Flask
from slack_bolt import App
from slack_bolt.adapter.socket_mode import SocketModeHandler
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from ..chat_buttons import SLACK_ACTION_PREFIX, parse_slack_action
from ..chat_markup import SLACK, slack_escape
from .core import Commands, Reply, Speaker

log = logging.getLogger(__name__)

COMMAND = "/soonish"
SUBSCRIBE_ACTION = "subscribe_event"
PRESS_ACTION_PREFIX = "soonish_press_"  # + confirm / dismiss; the value names the pending action


def render(reply: Reply) -> dict:
    """Block Kit: the reply's text, then one section per event (with a Subscribe button in `events`)."""
    text = slack_escape(reply.text)
    blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": text}}]
    for item in reply.events:
        block = {"type": "section", "text": {"type": "mrkdwn", "text": item.markup(SLACK)}}
        if item.can_subscribe:
            block["accessory"] = {
                "type": "button", "action_id": SUBSCRIBE_ACTION, "value": item.slug,
                "text": {"type": "plain_text", "text": "Subscribe"},
            }
        blocks.append(block)
    if reply.actions:
        blocks.append({"type": "actions", "elements": [
            {"type": "button", "action_id": PRESS_ACTION_PREFIX + action.value.split(":", 1)[0], "value": action.value,
             "text": {"type": "plain_text", "text": action.label}, **({"style": "primary"} if action.primary else {})}
            for action in reply.actions
        ]})
    return {"text": text, "blocks": blocks, "response_type": "ephemeral"}


def manages_channel(client: WebClient, user_id: str, channel_id: str) -> bool:
    """Workspace admins and owners, and the channel's creator, manage a channel."""
    try:
        user = client.users_info(user=user_id)["user"]
        if user.get("is_admin") or user.get("is_owner"):
            return True
        return client.conversations_info(channel=channel_id)["channel"].get("creator") == user_id
    except SlackApiError:
        return False


def user_zone(client: WebClient, user_id: str) -> str | None:
    """The IANA zone of the person's Slack profile (users.info `tz`)."""
    try:
        return client.users_info(user=user_id)["user"].get("tz")
    except SlackApiError:
        return None


def speaker(client: WebClient, team_id: str, user: dict, channel: dict) -> Speaker:
    return Speaker(
        platform=SLACK, workspace_id=team_id, user_id=user["id"], display_name=user.get("name", ""),
        channel_id=channel.get("id"), channel_name=channel.get("name", ""),
        manages_channel=lambda: manages_channel(client, user["id"], channel.get("id", "")),
        timezone=lambda: user_zone(client, user["id"]),
    )


def build_app(flask_app: Flask, socket_mode: bool = False) -> App:
    config = flask_app.config
    commands = Commands(flask_app)
    app = App(
        client=WebClient(token=config["SLACK_BOT_TOKEN"], base_url=config["SLACK_API_URL"]),
        signing_secret=config["SLACK_SIGNING_SECRET"],
        # Socket Mode requests come over our own authenticated connection, unsigned.
        request_verification_enabled=not socket_mode,
        # No auth.test call at start: a process must start even while Slack is unreachable.
        token_verification_enabled=False,
        # Ack first (Slack waits 3 s at most); bolt runs the rest of the listener on a thread.
        process_before_response=False,
    )

    @app.command(COMMAND)
    def on_command(ack, command, respond, client):
        ack()
        who = speaker(client, command["team_id"], {"id": command["user_id"], "name": command.get("user_name", "")},
                      {"id": command.get("channel_id"), "name": command.get("channel_name", "")})
        respond(**render(commands.run(who, command.get("text", ""))))

    @app.action(SUBSCRIBE_ACTION)
    def on_subscribe_button(ack, body, respond, client):
        ack()
        who = speaker(client, body["team"]["id"], body["user"], body.get("channel") or {})
        respond(**render(commands.subscribe(who, body["actions"][0]["value"])), replace_original=False)

    @app.action(re.compile("^" + re.escape(PRESS_ACTION_PREFIX)))
    def on_press(ack, body, respond, client):
        """Confirm / Never mind under a create or cancel preview."""
        ack()
        who = speaker(client, body["team"]["id"], body["user"], body.get("channel") or {})
        respond(**render(commands.press(who, str(body["actions"][0].get("value", "")))), replace_original=True)

    @app.action(re.compile("^" + re.escape(SLACK_ACTION_PREFIX)))
    def on_rsvp_button(ack, body, respond, client):
        """Going / Maybe / Can't go under a DM or a channel post: whoever presses answers for
        themselves; the post stays as it is and the answer comes back only to them."""
        ack()
        action = body["actions"][0]
        pressed = parse_slack_action(action.get("action_id", ""), str(action.get("value", "")))
        if pressed is None:
            return
        who = speaker(client, body["team"]["id"], body["user"], body.get("channel") or {})
        respond(**render(commands.rsvp_button(who, *pressed)), replace_original=False)

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
