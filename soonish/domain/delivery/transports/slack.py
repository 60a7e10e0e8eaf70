"""Slack: our bot's chat.postMessage, to a channel or to a person's DM, with the token of the
workspace it goes to (its installation's; the deployment's single token when it has none)."""
import asyncio

from soonish.domain import chat_buttons
from soonish.domain.chat_markup import ChatPlatform
from soonish.domain.chat_installations import REMOVED_REASON, TOKEN_REFUSED
from soonish.domain.delivery.pacing import token_fingerprint
from soonish.domain.delivery.types import ChatAddress
from soonish.domain.messages import Message
from soonish.domain.delivery.transports.base import SENT, Failed, Outcome, Transport, TransportContext, TransportKind, register
from soonish.domain.delivery.transports.chat_api import call_chat_api, token_refused

# Slack's errors that heal by retrying; any other `"ok": false` answer is final.
SLACK_TRANSIENT_ERRORS = {"ratelimited", "internal_error", "fatal_error", "service_unavailable", "request_timeout"}
# Slack's answers (HTTP 200, "ok": false) that mean the token itself is no good.
SLACK_TOKEN_ERRORS = {"not_authed", "invalid_auth", "account_inactive", "token_revoked", "token_expired"}


def removed() -> Failed:
    return Failed(REMOVED_REASON, permanent=True)


@register
class SlackTransport(Transport):
    kind = TransportKind.SLACK

    def __init__(self, context: TransportContext) -> None:
        super().__init__(context)
        # One auth.test per refused workspace token in a batch, however many sends met the refusal.
        self._confirmations: dict[str, asyncio.Task] = {}

    async def send(self, address: ChatAddress, message: Message) -> Outcome:
        """chat.postMessage; a user id as the channel posts in the bot's DM with that user."""
        if address.removed:
            return removed()
        chat = self.context.chat
        token = address.token or chat.slack_bot_token
        payload = {
            "channel": address.recipient, "text": message.short, "unfurl_links": False,
            "metadata": {"event_type": "soonish_delivery", "event_payload": {"delivery_key": message.delivery_key}},
        }
        if message.follow_event_id is not None:
            payload["blocks"] = chat_buttons.slack_follow_blocks(message.short, message.follow_event_id,
                                                                 message.follow_label)
        elif message.rsvp_event_id is not None:
            payload["blocks"] = chat_buttons.slack_blocks(message.short, message.rsvp_event_id, message.still_coming,
                                                         message.locale)
        pacer = self.context.pacer
        limits = pacer.settings
        # Narrowest first: the channel (or DM) at 1 a second, then the app's ceiling in that
        # workspace (Slack's limits are per app per workspace).
        workspace = address.workspace_id
        budgets = [
            pacer.budget(f"slack:channel:{workspace}:{address.recipient}", limits.slack_channel, "Slack"),
            pacer.budget(f"slack:app:{workspace}", limits.slack_app, "Slack"),
        ]
        answer = await call_chat_api(self.context, ChatPlatform.SLACK, self._url("chat.postMessage"), token, payload, budgets)
        if not isinstance(answer, dict):
            return answer
        if not answer.get("ok"):
            error = str(answer.get("error", "unknown_error"))[:100]
            if error in SLACK_TOKEN_ERRORS:
                if address.token:
                    return await self._workspace_token_refused(address, error)
                return await token_refused(self.context, ChatPlatform.SLACK, token, error)
            return Failed(f"Slack answered {error}", permanent=error not in SLACK_TRANSIENT_ERRORS)
        return SENT

    def _url(self, method: str) -> str:
        return self.context.chat.slack_api_url.rstrip("/") + "/" + method

    async def _workspace_token_refused(self, address: ChatAddress, error: str) -> Outcome:
        """A workspace's token refused: asked once more (auth.test), and if Slack refuses it
        again, the installation is gone (as for an uninstall); otherwise a failure to retry."""
        key = token_fingerprint(address.token)
        if key not in self._confirmations:
            self._confirmations[key] = asyncio.create_task(self._confirm_refused(address, error))
        return removed() if await self._confirmations[key] else Failed(f"Slack answered {error}")

    async def _confirm_refused(self, address: ChatAddress, error: str) -> bool:
        headers = {"Authorization": f"Bearer {address.token}", "User-Agent": "Soonish"}
        try:
            async with self.context.http.post(self._url("auth.test"), headers=headers, allow_redirects=False) as response:
                body = await response.json(content_type=None)
        except Exception:  # unreachable, unreadable: not a confirmation
            return False
        if not isinstance(body, dict) or body.get("ok") or body.get("error") not in SLACK_TOKEN_ERRORS:
            return False
        if self.context.installation_gone is not None:
            await self.context.installation_gone(ChatPlatform.SLACK.value, address.workspace_id, TOKEN_REFUSED)
        return True
