"""Webhooks (Apprise's json:// and form:// with POST) on one pooled aiohttp client: the same
request Apprise's plugins make, without a thread and a fresh connection per send. The pool
(``http_pool``) and the one POST every HTTP webhook makes (``post_once``) live here; the signed
outgoing webhooks (``signed_webhook``) use both."""
import asyncio
import json

import aiohttp
from aiohttp.helpers import is_ip_address
from apprise.plugins.custom_form import NotifyForm
from apprise.plugins.custom_json import NotifyJSON

from soonish.netguard import GuardedResolver, PrivateTargetRefused, is_public_address
from soonish.domain.delivery.pacing import Answer
from soonish.domain.messages import Message
from soonish.domain.delivery.transports.base import HTTP_TIMEOUT_SECONDS, Failed, Outcome, Transport, TransportKind, http_status_outcome, register

# Apprise's own fields of a json:// or form:// payload.
APPRISE_PAYLOAD_VERSION = "1.0"


class GuardedConnector(aiohttp.TCPConnector):
    """A connector whose every connection passes the SSRF guard. Host names go through
    ``GuardedResolver``; aiohttp never asks the resolver about an IP literal, so those are
    checked here, at connect time too."""

    def __init__(self, allow_private: bool, **kwargs) -> None:
        super().__init__(resolver=GuardedResolver(allow_private), **kwargs)
        self._allow_private = allow_private

    async def _resolve_host(self, host: str, port: int, traces=None):
        if not self._allow_private and is_ip_address(host) and not is_public_address(host):
            raise PrivateTargetRefused(f"{host} is a private address")
        return await super()._resolve_host(host, port, traces=traces)


def http_pool(allow_private: bool, connections: int) -> aiohttp.ClientSession:
    """A pooled HTTP client for webhooks and the chat APIs. The SSRF guard checks every host
    it connects to; connections stay open for the next message to the same receiver. Callers
    post with ``allow_redirects=False``: a delivery never follows a redirect."""
    return aiohttp.ClientSession(
        connector=GuardedConnector(allow_private, limit=connections),
        timeout=aiohttp.ClientTimeout(total=HTTP_TIMEOUT_SECONDS),
    )


async def post_once(http: aiohttp.ClientSession, where: str, url: str, **request) -> Outcome:
    """POST once, never following a redirect, and say what came of it: the answer classified
    by ``http_status_outcome``, a private address refused at connect time (for good), or an
    unreachable host or a timeout (for now). ``where`` names the receiver without credentials."""
    try:
        async with http.post(url, allow_redirects=False, **request) as response:
            await response.read()
            return http_status_outcome(where, response.status, response.headers.get("Retry-After"))
    except PrivateTargetRefused as exc:
        return Failed(str(exc), permanent=True)
    except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
        return Failed(f"{where} unreachable ({type(exc).__name__})")


def is_pooled_webhook(plugin) -> bool:
    """Whether an Apprise plugin's request is one the webhook transport makes itself."""
    return isinstance(plugin, (NotifyJSON, NotifyForm)) and plugin.method == "POST"


@register
class WebhookTransport(Transport):
    kind = TransportKind.WEBHOOK

    async def send(self, plugin, message: Message) -> Outcome:
        """What Apprise's json:// and form:// plugins send, on a pooled connection."""
        payload = {
            "version": APPRISE_PAYLOAD_VERSION,
            "title": message.title,
            "message": message.short,
            "type": message.notify_type,
        }
        for key, value in plugin.payload_extras.items():
            if key in payload:  # Apprise's rule: an extra named like a field renames or drops it
                original = payload.pop(key)
                if value:
                    payload[value] = original
            else:
                payload[key] = value
        headers = {"User-Agent": "Soonish", "Idempotency-Key": message.delivery_key, **plugin.headers}
        if isinstance(plugin, NotifyJSON):
            payload["attachments"] = []
            payload["soonish"] = {"delivery_key": message.delivery_key, **message.extra}
            body = {"data": json.dumps(payload), "headers": {**headers, "Content-Type": "application/json"}}
        else:
            body = {"data": payload, "headers": headers}
        scheme = "https" if plugin.secure else "http"
        port = f":{plugin.port}" if isinstance(plugin.port, int) else ""
        url = f"{scheme}://{plugin.host}{port}{plugin.fullpath}"
        auth = aiohttp.BasicAuth(plugin.user, plugin.password or "") if plugin.user else None
        where = f"{scheme}://{plugin.host}"

        async def request() -> Answer:
            return Answer(await post_once(self.context.http, where, url, params=plugin.params or None, auth=auth,
                                          ssl=plugin.verify_certificate, **body))

        pacer = self.context.pacer
        return await pacer.send([pacer.host_budget(plugin.host)], request)
