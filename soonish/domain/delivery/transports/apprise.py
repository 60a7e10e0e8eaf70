"""Apprise's long tail: every channel URL that is not a pooled webhook, sent by Apprise's own
plugin (ntfy, Telegram, Matrix, mailto://, …), one plugin object per URL per batch.

Apprise's HTTP plugins call ``requests`` without ``allow_redirects`` and resolve the host
again when they connect, after our save/send check: a receiver could redirect the worker to a
private address or the cloud's metadata service, or re-point its DNS name between check and
connect. So while a plugin sends (on its own thread), ``guarded_requests`` makes ``requests``
follow no redirect, and makes urllib3 connect only to the public addresses the host resolves
to at that moment, checked and pinned in one step.
"""
import asyncio
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from urllib.parse import urlsplit

import apprise
import requests
import urllib3.util.connection
from apprise.plugins.custom_form import NotifyForm
from apprise.plugins.custom_json import NotifyJSON
from apprise.plugins.telegram import NotifyTelegram

from soonish.netguard import is_public_address, resolve
from soonish.domain.delivery.pacing import Budget, Pacer, token_fingerprint
from soonish.domain.messages import Message
from soonish.domain.delivery.transports.base import SENT, Failed, Outcome, Transport, TransportKind, register

# The fast-path schemes, parsed by their own plugin class directly: the same parse and the same
# plugin object as Apprise.instantiate, without its per-call costs (a fresh AppriseAsset, the
# plugin lookup, and masking the URL for a log line nobody sees), ≈300 µs → ≈50 µs a URL.
_DIRECT_PLUGINS = {"json": NotifyJSON, "jsons": NotifyJSON, "form": NotifyForm, "forms": NotifyForm}
_SHARED_ASSET = apprise.AppriseAsset()


def _parse_direct(url: str):
    plugin_class = _DIRECT_PLUGINS.get(url.split("://", 1)[0].lower()) if "://" in url else None
    if plugin_class is None:
        return None
    try:
        results = plugin_class.parse_url(url.replace("/#", "/%23"))
        if not results:
            return None
        results.update(tag=set(), asset=_SHARED_ASSET)
        plugin = plugin_class(**results)
    except Exception:
        return None
    return plugin if plugin.enabled else None


def parse_apprise_url(url: str):
    """The Apprise plugin for ``url``, or None when Apprise does not understand it."""
    plugin = _parse_direct(url)
    if plugin is not None:
        return plugin
    try:  # everything else, and anything the direct parse refused (Apprise logs why, masked)
        return apprise.Apprise.instantiate(url, suppress_exceptions=True) or None
    except Exception:  # Apprise raises various types for odd input
        return None


def connect_host(plugin) -> str | None:
    """The host a plugin will connect to, when the URL chooses it (SMTP server, webhook host)."""
    return getattr(plugin, "smtp_host", None) or getattr(plugin, "host", None)


def mask_url(url: str) -> str:
    """Scheme and host only: what may be shown back to the user."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname or ''}"


def plugin_budgets(pacer: Pacer, plugin) -> list[Budget]:
    """Telegram: each chat 1 a second, the bot 30 a second; any other plugin: its host's."""
    limits = pacer.settings
    if isinstance(plugin, NotifyTelegram):
        bot = f"telegram:{token_fingerprint(plugin.bot_token)}"
        chats = [pacer.budget(f"{bot}:chat:{chat}", limits.telegram_chat, "Telegram") for chat, *_ in plugin.targets]
        return [*chats, pacer.budget(bot, limits.telegram_bot, "Telegram")]
    host = connect_host(plugin)
    return [pacer.host_budget(host)] if host else []


# Guarding requests ---------------------------------------------------------------------------


class PrivateConnectionRefused(OSError):
    """An OSError, so urllib3 and requests report it as the failed connection it is."""


@dataclass
class RequestGuard:
    """One plugin send's guard, and what it stopped."""

    allow_private: bool
    redirect_status: int | None = None
    refused: str | None = None
    answered: int | None = None  # the last HTTP status heard; None: the service was never reached


_current = threading.local()
_install_lock = threading.Lock()
_installed = False


def _guard() -> RequestGuard | None:
    return getattr(_current, "guard", None)


def _install() -> None:
    """Wrap requests' send and urllib3's connect once per process. Outside a guarded block
    (anything else in the process using requests) both behave exactly as before."""
    global _installed
    with _install_lock:
        if _installed:
            return
        original_send = requests.Session.send
        original_connect = urllib3.util.connection.create_connection

        def send(session, request, **kwargs):
            guard = _guard()
            if guard is None:
                return original_send(session, request, **kwargs)
            kwargs["allow_redirects"] = False
            response = original_send(session, request, **kwargs)
            guard.answered = response.status_code
            if 300 <= response.status_code < 400:
                guard.redirect_status = response.status_code
            return response

        def create_connection(address, *args, **kwargs):
            guard = _guard()
            if guard is None or guard.allow_private:
                return original_connect(address, *args, **kwargs)
            host, port = address
            addresses = resolve(host)
            public = [a for a in addresses if is_public_address(a)]
            if addresses and not public:
                guard.refused = f"{host} resolves to a private address"
                raise PrivateConnectionRefused(guard.refused)
            if not public:
                raise socket.gaierror(f"{host} does not resolve")
            error: OSError | None = None
            for ip in public:  # connect to the very addresses just checked
                try:
                    return original_connect((ip, port), *args, **kwargs)
                except OSError as exc:
                    error = exc
            raise error

        requests.Session.send = send
        urllib3.util.connection.create_connection = create_connection
        _installed = True


@contextmanager
def guarded_requests(allow_private: bool) -> Iterator[RequestGuard]:
    """For the length of the block, on this thread: no redirects, and (unless private targets
    are allowed) connections to public addresses only, checked at connect time."""
    _install()
    guard = RequestGuard(allow_private)
    _current.guard = guard
    try:
        yield guard
    finally:
        _current.guard = None


@register
class AppriseTransport(Transport):
    kind = TransportKind.APPRISE

    async def send(self, plugin, message: Message) -> Outcome:
        # Apprise's plugins say only "sent" or not (no Retry-After): pacing is all we can do.
        await self.context.pacer.wait_turn(plugin_budgets(self.context.pacer, plugin))
        return await asyncio.to_thread(self._notify, plugin, message)

    def _notify(self, plugin, message: Message) -> Outcome:
        with guarded_requests(self.context.allow_private) as guard:
            ok = plugin.notify(body=message.short, title=message.title, notify_type=message.notify_type)
        if ok:
            return SENT
        where = mask_url(plugin.url(privacy=True))
        if guard.refused:
            return Failed(guard.refused, permanent=True)
        if guard.redirect_status:
            return Failed(f"{where} answered HTTP {guard.redirect_status}, a redirect "
                          "(deliveries don't follow redirects)", permanent=True)
        if guard.answered is None:
            return Failed(f"{where} could not be reached")
        return Failed(f"{where} did not accept the message", http_status=guard.answered)
