"""Calling one of our bots' web APIs over the pooled HTTP client (shared by Slack and Discord)."""
import asyncio

import aiohttp

from ...chat_markup import ChatPlatform
from ...netguard import PrivateTargetRefused
from .base import Failed, Outcome, http_status_outcome

# How each platform wants the bot token presented.
AUTH_SCHEMES = {ChatPlatform.SLACK: "Bearer", ChatPlatform.DISCORD: "Bot"}


async def call_chat_api(http: aiohttp.ClientSession, platform: ChatPlatform, url: str, token: str,
                        payload: dict) -> dict | Outcome:
    """POST ``payload`` to the platform's API: the answer's JSON object, or the outcome that
    ends the delivery (missing access, an unknown user, DMs closed: permanent; rate limits:
    retry after)."""
    name = platform.display_name
    if not token:
        return Failed(f"the {name} bot is not configured", permanent=True)
    headers = {"Authorization": f"{AUTH_SCHEMES[platform]} {token}", "User-Agent": "Soonish"}
    try:
        async with http.post(url, json=payload, headers=headers, allow_redirects=False) as response:
            status = response.status
            if status >= 300:
                return http_status_outcome(name, status, response.headers.get("Retry-After"))
            body = await response.json(content_type=None)
    except PrivateTargetRefused as exc:
        return Failed(str(exc), permanent=True)
    except (aiohttp.ClientError, asyncio.TimeoutError, ValueError) as exc:
        return Failed(f"{name} unreachable ({type(exc).__name__})")
    return body if isinstance(body, dict) else {}
