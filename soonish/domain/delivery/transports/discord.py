"""Discord: our bot's create-message, in a channel or in a person's DM channel."""
from soonish.domain import chat_buttons
from soonish.domain.chat_markup import ChatPlatform
from soonish.domain.chat_installations import REMOVED_REASON
from soonish.domain.delivery.types import ChatAddress
from soonish.domain.messages import Message
from soonish.domain.delivery.transports.base import SENT, Failed, Outcome, Transport, TransportContext, TransportKind, register
from soonish.domain.delivery.pacing import Route
from soonish.domain.delivery.transports.chat_api import DISCORD_GLOBAL_KEY, call_chat_api

# Discord drops a second message with the same nonce (up to 25 characters) for a few minutes.
DISCORD_NONCE_MAX = 25
DISCORD_MESSAGE_MAX = 2000


@register
class DiscordTransport(Transport):
    kind = TransportKind.DISCORD

    def __init__(self, context: TransportContext) -> None:
        super().__init__(context)
        self._dms: dict[str, str] = {}  # user id -> their DM channel id

    async def send(self, address: ChatAddress, message: Message) -> Outcome:
        """Create-message in the channel, or in the person's DM channel (created, or found, first)."""
        if address.removed:
            return Failed(REMOVED_REASON, permanent=True)
        root, token = self.context.chat.discord_api_url.rstrip("/"), self.context.chat.discord_bot_token
        channel_id = address.recipient
        if not address.is_channel:
            if address.recipient not in self._dms:
                dm = await self._call(f"{root}/users/@me/channels", token, {"recipient_id": address.recipient},
                                      Route("POST /users/@me/channels", "discord:route:dm-open", "Discord"))
                if not isinstance(dm, dict):
                    return dm
                if "id" not in dm:
                    return Failed("Discord opened no DM channel")
                self._dms[address.recipient] = str(dm["id"])
            channel_id = self._dms[address.recipient]
        payload = {
            "content": message.short[:DISCORD_MESSAGE_MAX],
            "nonce": message.delivery_key[:DISCORD_NONCE_MAX],
            "enforce_nonce": True,
            "allowed_mentions": {"parse": []},  # an announcement never pings @everyone
        }
        if message.follow_event_id is not None:
            payload["components"] = chat_buttons.discord_follow_components(message.follow_event_id, message.follow_label)
        elif message.rsvp_event_id is not None:
            payload["components"] = chat_buttons.discord_components(message.rsvp_event_id, message.still_coming,
                                                                    message.locale)
        # Discord's route buckets are per route and major parameter: here, the channel.
        route = Route("POST /channels/{id}/messages", f"discord:route:channel:{channel_id}", "Discord")
        answer = await self._call(f"{root}/channels/{channel_id}/messages", token, payload, route)
        return answer if not isinstance(answer, dict) else SENT

    async def _call(self, url: str, token: str, payload: dict, route: Route) -> dict | Outcome:
        pacer = self.context.pacer
        budgets = [pacer.budget(DISCORD_GLOBAL_KEY, pacer.settings.discord_global, "Discord")]
        return await call_chat_api(self.context, ChatPlatform.DISCORD, url, token, payload, budgets, route)
