"""The one interface every transport implements, its outcomes, and the registry that picks one.

A transport sends one message to one target and says what happened: ``Sent``,
``RetryAfter(seconds)`` (the receiver asked us to come back later) or ``Failed(reason,
permanent)``. It never raises for a delivery that did not happen, and a reason never carries a
URL (integration URLs hold credentials).

Adding a transport: one module here with a ``@register``-ed ``Transport`` subclass, and its
import in ``transports/__init__.py``.
"""
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any, ClassVar

import aiohttp

from soonish.domain.delivery.outcomes import SENT, Failed, Outcome, RetryAfter, Sent
from soonish.domain.delivery.types import ChatSettings, MailSettings, PushSettings
from soonish.domain.messages import Message

if TYPE_CHECKING:
    from soonish.domain.delivery.pacing import Pacer

HTTP_TIMEOUT_SECONDS = 15


class TransportKind(StrEnum):
    """How a destination is reached. The chat kinds equal ``ChatPlatform`` values."""

    EMAIL = "email"  # our SMTP
    WEBHOOK = "webhook"  # json:// and form:// POSTs on the pooled HTTP client
    SIGNED_WEBHOOK = "signed_webhook"  # our outgoing webhooks to integrators, signed per Standard Webhooks
    APPRISE = "apprise"  # every other Apprise URL (Apprise's own plugins)
    SLACK = "slack"  # our Slack bot's web API
    DISCORD = "discord"  # our Discord bot's REST API
    PUSH = "push"  # a browser's Web Push subscription, on the pooled HTTP client


@dataclass
class TransportContext:
    """What a Courier shares with its transports for one batch."""

    http: aiohttp.ClientSession
    mail: MailSettings
    chat: ChatSettings
    allow_private: bool
    pacer: "Pacer"  # every request is charged against its destination's budgets
    # Told (platform, workspace id, why) when a workspace's installation turns out gone (its
    # token refused twice): the worker marks it removed, so later batches send nothing there.
    installation_gone: Callable[[str, str, str], Awaitable[None]] | None = None
    push: PushSettings = PushSettings()


class Transport(ABC):
    """Made once per Courier (so per batch) on first use; may keep connections until ``close``."""

    kind: ClassVar[TransportKind]

    def __init__(self, context: TransportContext) -> None:
        self.context = context

    @abstractmethod
    async def send(self, target: Any, message: Message) -> Outcome:
        """Send ``message`` to ``target`` (an address, a ChatAddress, a parsed Apprise URL or a
        SignedEndpoint)."""

    async def close(self) -> None:
        """Release what the transport holds open."""


_REGISTRY: dict[TransportKind, type[Transport]] = {}


def register(transport: type[Transport]) -> type[Transport]:
    _REGISTRY[transport.kind] = transport
    return transport


def transport_class(kind: TransportKind) -> type[Transport]:
    return _REGISTRY[kind]


def registered_kinds() -> set[TransportKind]:
    return set(_REGISTRY)


def retry_after_seconds(value: str | None) -> float | None:
    """A Retry-After header's wait: delta-seconds or an HTTP date; None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return max(0.0, (moment - datetime.now(timezone.utc)).total_seconds())


def http_status_outcome(where: str, status: int, retry_after: str | None = None) -> Outcome:
    """What an HTTP answer means for a delivery (``where`` is safe to show: no credentials)."""
    if status < 300:
        return Sent(status)
    reason = f"{where} answered HTTP {status}"
    if status < 400:
        # Deliveries never follow a redirect: it could point anywhere, a private address or
        # the cloud's metadata service included (SSRF). It won't heal by retrying either.
        return Failed(f"{reason}, a redirect (deliveries don't follow redirects)", permanent=True, http_status=status)
    wait = retry_after_seconds(retry_after) if status in (429, 503) else None
    if wait is not None:
        return RetryAfter(wait, reason, status)
    # A client error will not heal by retrying, except "too many" and "timeout".
    return Failed(reason, permanent=400 <= status < 500 and status not in (408, 429), http_status=status)
