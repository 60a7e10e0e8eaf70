"""Slack: our bot's chat.postMessage, to a channel or to a person's DM."""
from soonish.domain import chat_buttons
from soonish.domain.chat_markup import ChatPlatform
from soonish.domain.delivery.types import ChatAddress
from soonish.domain.messages import Message
from soonish.domain.delivery.transports.base import SENT, Failed, Outcome, Transport, TransportKind, register
from soonish.domain.delivery.transports.chat_api import call_chat_api, token_refused

# Slack's errors that heal by retrying; any other `"ok": false` answer is final.
SLACK_TRANSIENT_ERRORS = {"ratelimited", "internal_error", "fatal_error", "service_unavailable", "request_timeout"}
# Slack's answers (HTTP 200, "ok": false) that mean the token itself is no good.
SLACK_TOKEN_ERRORS = {"not_authed", "invalid_auth", "account_inactive", "token_revoked", "token_expired"}


@register
class SlackTransport(Transport):
    kind = TransportKind.SLACK

    async def send(self, address: ChatAddress, message: Message) -> Outcome:
        """chat.postMessage; a user id as the channel posts in the bot's DM with that user."""
        chat = self.context.chat
        url = chat.slack_api_url.rstrip("/") + "/chat.postMessage"
        payload = {
            "channel": address.recipient, "text": message.short, "unfurl_links": False,
            "metadata": {"event_type": "soonish_delivery", "event_payload": {"delivery_key": message.delivery_key}},
        }
        if message.rsvp_event_id is not None:
            payload["blocks"] = chat_buttons.slack_blocks(message.short, message.rsvp_event_id, message.still_coming)
        pacer = self.context.pacer
        limits = pacer.settings
        # Narrowest first: the channel (or DM) at 1 a second, then the app's ceiling.
        budgets = [
            pacer.budget(f"slack:channel:{address.recipient}", limits.slack_channel, "Slack"),
            pacer.budget("slack:app", limits.slack_app, "Slack"),
        ]
        answer = await call_chat_api(self.context, ChatPlatform.SLACK, url, chat.slack_bot_token, payload, budgets)
        if not isinstance(answer, dict):
            return answer
        if not answer.get("ok"):
            error = str(answer.get("error", "unknown_error"))[:100]
            if error in SLACK_TOKEN_ERRORS:
                return await token_refused(self.context, ChatPlatform.SLACK, chat.slack_bot_token, error)
            return Failed(f"Slack answered {error}", permanent=error not in SLACK_TRANSIENT_ERRORS)
        return SENT
