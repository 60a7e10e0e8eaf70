"""The Courier: for one batch, routes each destination to its transport (a registry lookup)
and shares the batch's resources with them: one pooled HTTP client for webhooks (signed
outgoing ones too) and our bots' web APIs, one SMTP connection, one Apprise plugin object per URL with Apprise's
per-object throttle turned off (our budgets pace them instead, see ``pacing``). Every message carries a stable delivery key
(``Idempotency-Key`` header, ``Message-ID``, Discord's message nonce) so a receiver can drop
the rare repeat that a crash in mid-send can cause.
"""
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp

from soonish.netguard import PrivateTargetRefused, check_host
from soonish.domain.delivery.pacing import Pacer, SendPacing, current_send
from soonish.domain.delivery.transports import Failed, Outcome, Transport, TransportContext, TransportKind, transport_class
from soonish.domain.delivery.transports.apprise import connect_host, parse_apprise_url
from soonish.domain.delivery.transports.webhook import http_pool, is_pooled_webhook
from soonish.domain.delivery.types import ChatSettings, Destination, MailSettings, PushSettings
from soonish.domain.messages import Message


class Courier:
    """Delivers messages for one batch; use as ``async with Courier(...) as courier``. Given an
    ``http`` pool it sends through it (and leaves it open); otherwise it opens one of its own.
    Likewise a ``pacer`` (the worker's budgets), or budgets of its own for this courier alone."""

    def __init__(self, mail: MailSettings, allow_private: bool, http: aiohttp.ClientSession | None = None,
                 chat: ChatSettings = ChatSettings(), pacer: Pacer | None = None,
                 installation_gone: Callable[[str, str, str], Awaitable[None]] | None = None,
                 push: PushSettings = PushSettings()) -> None:
        self.mail = mail
        self.allow_private = allow_private
        self.chat = chat
        self.push = push
        self._given_http = http
        self._http = http
        self._given_pacer = pacer
        self._pacer = pacer
        self._installation_gone = installation_gone
        self._context: TransportContext | None = None
        self._transports: dict[TransportKind, Transport] = {}
        self._plugins: dict[str, object] = {}
        # Each host's SSRF check, once per batch: a batch sends for seconds, and resolving the
        # same host before each of its sends was a blocking DNS lookup on the event loop per
        # message. Connections are still checked as they are made (GuardedResolver for pooled
        # webhooks, guarded_requests for Apprise's plugins).
        self._host_checks: dict[str, PrivateTargetRefused | None] = {}

    async def __aenter__(self) -> "Courier":
        if self._http is None:
            self._http = http_pool(self.allow_private, connections=1)
        if self._pacer is None:
            self._pacer = Pacer()
        self._context = TransportContext(self._http, self.mail, self.chat, self.allow_private, self._pacer,
                                         self._installation_gone, self.push)
        return self

    async def __aexit__(self, *exc) -> None:
        for transport in self._transports.values():
            await transport.close()
        self._transports.clear()
        if self._http is not None and self._http is not self._given_http:
            await self._http.close()
        if self._pacer is not None and self._pacer is not self._given_pacer:
            await self._pacer.close()
            self._pacer = None

    async def deliver(self, destination: Destination, message: Message, pacing: SendPacing | None = None) -> Outcome:
        """Send ``message``; what happened, as the transport classified it. ``pacing`` collects
        the send's waits (and names its broadcast)."""
        route = self._route(destination)
        if isinstance(route, Failed):
            return route
        kind, target = route
        token = current_send.set(pacing or SendPacing())
        try:
            return await self._transport(kind).send(target, message)
        finally:
            current_send.reset(token)

    def _route(self, destination: Destination) -> tuple[TransportKind, Any] | Failed:
        """Which transport reaches ``destination``, and the target it takes; or why none will."""
        if destination.email:
            return TransportKind.EMAIL, destination.email
        if destination.chat:
            return TransportKind(destination.chat.platform), destination.chat
        if destination.signed_webhook:
            # Its URL is checked when the endpoint is saved and before each attempt (with the
            # endpoint's own words), and the pool's resolver guards every connection.
            return TransportKind.SIGNED_WEBHOOK, destination.signed_webhook
        if destination.push:
            refused = self._host_check(destination.push.host)
            return Failed(str(refused), permanent=True) if refused else (TransportKind.PUSH, destination.push)
        plugin = self._plugin(destination.apprise_url or "")
        if plugin is None:
            return Failed("the channel's URL is no longer understood", permanent=True)
        refused = self._host_check(connect_host(plugin))
        if refused is not None:
            return Failed(str(refused), permanent=True)
        return (TransportKind.WEBHOOK if is_pooled_webhook(plugin) else TransportKind.APPRISE), plugin

    def _transport(self, kind: TransportKind) -> Transport:
        if kind not in self._transports:
            self._transports[kind] = transport_class(kind)(self._context)
        return self._transports[kind]

    def _host_check(self, host: str | None) -> PrivateTargetRefused | None:
        """Why ``host`` is refused (None: it is not), checked at its first send of the batch."""
        if host not in self._host_checks:
            try:
                check_host(host, self.allow_private)
                self._host_checks[host] = None
            except PrivateTargetRefused as exc:
                self._host_checks[host] = exc
        return self._host_checks[host]

    def _plugin(self, url: str):
        """The URL's Apprise plugin, parsed at its first send of the batch; None when Apprise no
        longer understands it."""
        if url not in self._plugins:
            plugin = parse_apprise_url(url)
            if plugin is not None:
                # Apprise sleeps between sends through one object unless told not to.
                plugin.request_rate_per_sec = 0
            self._plugins[url] = plugin
        return self._plugins[url]
