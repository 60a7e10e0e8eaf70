"""Calling one of our bots' web APIs over the pooled HTTP client (shared by Slack and Discord),
within the platform's budgets (``pacing``): every call waits for room, and an answer that says
"slow down" (HTTP 429 with Retry-After, Discord's X-RateLimit-* headers and ``retry_after``)
holds the budget it names and the call is made again.

A token the platform refuses (401/403) stops every further send with it for the broadcast: a
bot that keeps calling with a bad token walks into Discord's invalid-request ban."""
import asyncio
import logging
from dataclasses import dataclass

import aiohttp

from soonish.domain.chat_markup import ChatPlatform
from soonish.netguard import PrivateTargetRefused
from soonish.domain.delivery.pacing import Answer, Budget, Route, current_send, token_fingerprint
from soonish.domain.delivery.transports.base import Failed, Outcome, RetryAfter, TransportContext, http_status_outcome

log = logging.getLogger(__name__)

# How each platform wants the bot token presented.
AUTH_SCHEMES = {ChatPlatform.SLACK: "Bearer", ChatPlatform.DISCORD: "Bot"}
# The token is not (or no longer) good: nothing more is sent with it.
REFUSED_TOKEN_STATUSES = {401, 403}
DISCORD_GLOBAL_KEY = "discord:global"
# Discord's 403s about one channel or person, not the token: Missing Access, Cannot send
# messages to this user (DMs closed), Missing Permissions. They fail that delivery only.
DISCORD_RESOURCE_ERROR_CODES = {50001, 50007, 50013}


@dataclass(frozen=True)
class TokenRefused:
    """The platform answered 401/403 to the bot's token."""

    status: int


def _token_scope(platform: ChatPlatform, token: str) -> str:
    send = current_send.get()
    return f"{platform.value}:{token_fingerprint(token)}:{send.broadcast if send else ''}"


async def token_refused(context: TransportContext, platform: ChatPlatform, token: str, why: str) -> Failed:
    """Stop sends with ``token`` for this broadcast; logged once, by whoever saw it first."""
    if await context.pacer.refuse_token(_token_scope(platform, token)):
        send = current_send.get()
        log.warning("%s refused the bot's token (%s): no more sends with it for this broadcast",
                    platform.display_name, why, extra={"broadcast": send.broadcast if send else ""})
    return refused_token_failure(platform, why)


def refused_token_failure(platform: ChatPlatform, why: str) -> Failed:
    return Failed(f"{platform.display_name} refused the bot's token ({why}); not sent", permanent=True)


def _discord_limits(route: Route, response: aiohttp.ClientResponse, context: TransportContext) -> list[tuple[str, float]]:
    """What Discord's rate-limit headers say: learn the route's limit; hold the route while its
    bucket is empty (Remaining 0 until Reset-After)."""
    headers = response.headers
    try:
        limit = int(headers["X-RateLimit-Limit"])
        remaining = int(headers["X-RateLimit-Remaining"])
        reset_after = float(headers["X-RateLimit-Reset-After"])
    except (KeyError, ValueError):
        return []
    context.pacer.learn(route, limit, reset_after)
    return [(route.key, reset_after)] if remaining <= 0 else []


async def _about_one_resource(platform: ChatPlatform, response: aiohttp.ClientResponse) -> bool:
    if platform != ChatPlatform.DISCORD or response.status != 403:
        return False
    try:
        body = await response.json(content_type=None)
    except ValueError:
        return False
    return isinstance(body, dict) and body.get("code") in DISCORD_RESOURCE_ERROR_CODES


async def _discord_too_many(route: Route, response: aiohttp.ClientResponse) -> Answer:
    """Discord's 429: ``retry_after`` (seconds, fractional) in the JSON body, and whether the
    limit hit was the bot's global one or the route's."""
    try:
        body = await response.json(content_type=None)
    except ValueError:
        body = {}
    body = body if isinstance(body, dict) else {}
    seconds = body.get("retry_after")
    if not isinstance(seconds, (int, float)):
        outcome = http_status_outcome("Discord", response.status, response.headers.get("Retry-After"))
        seconds = outcome.seconds if isinstance(outcome, RetryAfter) else 1.0
    is_global = bool(body.get("global")) or response.headers.get("X-RateLimit-Global") == "true"
    return Answer(RetryAfter(float(seconds), "Discord answered HTTP 429"),
                  [(DISCORD_GLOBAL_KEY if is_global else route.key, float(seconds))])


def _slack_too_many(budgets: list[Budget], response: aiohttp.ClientResponse) -> Answer:
    """Slack's 429: its Retry-After is for the app's calls of the method in the workspace,
    whichever limit was met (Slack doesn't say), so every budget the call was charged to, the
    app's too, waits it out, and is slowed: Slack allows less than it. Holding the channel
    alone let the other channels' posts meet the same 429 (14 of 26 posts in the test)."""
    outcome = http_status_outcome("Slack", response.status, response.headers.get("Retry-After"))
    if not isinstance(outcome, RetryAfter):
        return Answer(outcome)
    return Answer(outcome, [(budget.key, outcome.seconds) for budget in budgets], slows=True)


async def call_chat_api(context: TransportContext, platform: ChatPlatform, url: str, token: str, payload: dict,
                        budgets: list[Budget], route: Route | None = None) -> dict | Outcome:
    """POST ``payload`` to the platform's API within ``budgets`` (and the platform's own
    ``route`` bucket): the answer's JSON object, or the outcome that ends the delivery (missing
    access, an unknown user, DMs closed, a refused token: permanent; a long wait: retry after)."""
    name = platform.display_name
    if not token:
        return Failed(f"the {name} bot is not configured", permanent=True)
    scope = _token_scope(platform, token)
    headers = {"Authorization": f"{AUTH_SCHEMES[platform]} {token}", "User-Agent": "Soonish"}

    async def request() -> Answer:
        # Asked before every request, also one that waited its turn while the token was refused.
        if await context.pacer.is_refused(scope):
            return Answer(refused_token_failure(platform, "earlier in this broadcast"))
        try:
            async with context.http.post(url, json=payload, headers=headers, allow_redirects=False) as response:
                holds = _discord_limits(route, response, context) if route is not None else []
                if response.status == 429 and platform == ChatPlatform.DISCORD and route is not None:
                    return await _discord_too_many(route, response)
                if response.status == 429 and platform == ChatPlatform.SLACK:
                    return _slack_too_many(budgets, response)
                if response.status in REFUSED_TOKEN_STATUSES and not await _about_one_resource(platform, response):
                    return Answer(TokenRefused(response.status))
                if response.status >= 300:
                    retry_after = response.headers.get("Retry-After")
                    return Answer(http_status_outcome(name, response.status, retry_after), holds)
                body = await response.json(content_type=None)
        except PrivateTargetRefused as exc:
            return Answer(Failed(str(exc), permanent=True))
        except (aiohttp.ClientError, asyncio.TimeoutError, ValueError) as exc:
            return Answer(Failed(f"{name} unreachable ({type(exc).__name__})"))
        return Answer(body if isinstance(body, dict) else {}, holds)

    result = await context.pacer.send(budgets, request, route)
    if isinstance(result, TokenRefused):
        return await token_refused(context, platform, token, f"HTTP {result.status}")
    return result
