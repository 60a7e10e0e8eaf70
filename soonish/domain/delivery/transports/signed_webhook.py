"""Our outgoing webhooks to integrators' endpoints, signed per Standard Webhooks
(standardwebhooks.com): the message's JSON envelope as the body, and the ``webhook-id`` /
``webhook-timestamp`` / ``webhook-signature`` headers, signed with the endpoint's ``whsec_``
secret by the reference ``standardwebhooks`` package, so receivers verify with the same library
in any language.

One POST per send, on the pooled client (its SSRF guard and timeout), charged to the host's
budget like any webhook, and classified like every HTTP send. A "come back later" is not waited
out here: each send is one attempt in the endpoint's log, and the webhook workflow's backoff
decides when the next one goes.
"""
import json
from datetime import datetime, timezone
from urllib.parse import urlsplit

from standardwebhooks.webhooks import Webhook

from soonish.domain.delivery.transports.base import Outcome, Transport, TransportKind, register
from soonish.domain.delivery.transports.webhook import post_once
from soonish.domain.delivery.types import SignedEndpoint
from soonish.domain.messages import Message


def signed_headers(secret: str, msg_id: str, at: datetime, body: str) -> dict[str, str]:
    return {
        "content-type": "application/json",
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": Webhook(secret).sign(msg_id, at, body),
    }


@register
class SignedWebhookTransport(Transport):
    kind = TransportKind.SIGNED_WEBHOOK

    async def send(self, endpoint: SignedEndpoint, message: Message) -> Outcome:
        """POST ``message.extra`` (the envelope) as compact JSON, with ``message.delivery_key``
        as its webhook-id, signed as it leaves (after any wait for the host's budget)."""
        body = json.dumps(message.extra, separators=(",", ":"))
        parts = urlsplit(endpoint.url)
        pacer = self.context.pacer
        await pacer.wait_turn([pacer.host_budget(parts.hostname or "")])
        headers = signed_headers(endpoint.secret, message.delivery_key, datetime.now(timezone.utc), body)
        return await post_once(self.context.http, f"{parts.scheme}://{parts.hostname}", endpoint.url,
                               data=body.encode(), headers=headers)
