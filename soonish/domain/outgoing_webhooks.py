"""Outgoing webhooks, the domain part: event types, signing secrets, the SSRF check of a target,
and one signed attempt to deliver a message, recorded. Plain Python over the models (the worker's
send_webhook activity and the services both use it); no Temporal, no Flask request.

Payloads follow the Standard Webhooks spec (standardwebhooks.com): a JSON envelope
``{"type", "timestamp", "data"}`` and the ``webhook-id`` / ``webhook-timestamp`` /
``webhook-signature`` headers, signed with the endpoint's ``whsec_`` secret by the reference
``standardwebhooks`` package, so receivers verify with the same library in any language.
"""
import base64
import copy
import json
import secrets
from datetime import datetime, timezone
from urllib.parse import urlsplit

import aiohttp
from sqlalchemy import and_, exists, func, or_, select
from standardwebhooks.webhooks import Webhook

from soonish.crypto import FieldCipher
from soonish.domain.delivery.outcomes import redacted_reason
from soonish.field_limits import ENDPOINT_URL_MAX
from soonish.models import Delivery, DeliveryStatus, Event, Notification, NotificationKind, WebhookAttempt, WebhookEndpoint, WebhookMessage, WebhookMessageStatus, db, utcnow
from soonish.netguard import GuardedResolver, PrivateTargetRefused, check_host

# What an endpoint can subscribe to. A new kind of event is one line here and one emit() call
# where it happens.
EVENT_TYPES = {
    "subscription.created": "Someone started following one of your events.",
    "subscription.cancelled": "Someone stopped following one of your events.",
    "notification.sent": "A message to your event's followers was handed to its channels, with counts.",
    "delivery.failed": "A message could not be delivered to a follower, after every retry.",
    "event.updated": "One of your events changed.",
    "event.cancelled": "One of your events was cancelled.",
    "rsvp.changed": "Someone's answer to one of your events changed (going, maybe, can't go, waitlisted).",
}
HTTP_TIMEOUT_SECONDS = 15
ERROR_MAX = 500


class TargetRefused(ValueError):
    """Not a URL we will deliver to; the message says why."""


def new_secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()


def new_message_id() -> str:
    return "msg_" + secrets.token_urlsafe(18)


def check_target(url: str, allow_private: bool) -> str:
    """``url`` cleaned, if it is an http(s) URL to a public host (the channels' SSRF guard)."""
    url = (url or "").strip()
    if not url or len(url) > ENDPOINT_URL_MAX:
        raise TargetRefused(f"Give the endpoint's URL (up to {ENDPOINT_URL_MAX} characters).")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise TargetRefused("Not a valid URL (check the port).") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise TargetRefused("Use an http:// or https:// URL, e.g. https://example.com/soonish-hook.")
    if port == 0:
        raise TargetRefused("Not a valid URL (check the port).")
    try:
        check_host(parts.hostname, allow_private)
    except PrivateTargetRefused as exc:
        raise TargetRefused(f"Refused: {exc}. Soonish only delivers to public hosts.") from exc
    return url


def envelope(event_type: str, data: dict, at: datetime) -> dict:
    return {"type": event_type, "timestamp": at.isoformat(), "data": data}


def signed_headers(secret: str, msg_id: str, at: datetime, body: str) -> dict[str, str]:
    return {
        "content-type": "application/json",
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": Webhook(secret).sign(msg_id, at, body),
    }


def event_data(event: Event) -> dict:
    return {"id": event.id, "slug": event.slug, "title": event.title, "status": event.status.value,
            "version": event.version, "starts_at": event.starts_at.isoformat(),
            "ends_at": event.ends_at.isoformat() if event.ends_at else None}


def record_messages(owner_id: int, event_type: str, data: dict, dedupe_key: str | None = None) -> list[WebhookMessage]:
    """A message for each of ``owner_id``'s active endpoints that take ``event_type``, committed;
    the caller starts their deliveries. With ``dedupe_key`` the message ids are derived from it,
    so recording the same happening twice (a retried activity) makes no second message."""
    assert event_type in EVENT_TYPES, event_type
    endpoints = [
        endpoint for endpoint in db.session.scalars(
            select(WebhookEndpoint).where(WebhookEndpoint.user_id == owner_id, WebhookEndpoint.is_active.is_(True))
        )
        if event_type in endpoint.event_types
    ]
    payload = envelope(event_type, data, utcnow())
    messages = []
    for endpoint in endpoints:
        msg_id = f"msg_{dedupe_key}_{endpoint.id}" if dedupe_key else new_message_id()
        if dedupe_key and db.session.scalar(select(WebhookMessage.id).where(WebhookMessage.msg_id == msg_id)):
            continue
        message = WebhookMessage(endpoint_id=endpoint.id, msg_id=msg_id, event_type=event_type, payload=payload,
                                 next_attempt_at=utcnow())
        db.session.add(message)
        messages.append(message)
    db.session.commit()
    return messages


def notification_settled(notification_id: int) -> list[WebhookMessage]:
    """Once a notification's batches are done: ``notification.sent`` with its counts, and a
    ``delivery.failed`` per delivery that gave up, to the organizer's endpoints. Welcomes are
    left out: ``subscription.created`` already tells of each new follower."""
    notification = db.session.get(Notification, notification_id)
    if notification is None or notification.kind == NotificationKind.WELCOME:
        return []
    event = notification.event
    counts = {status.value: 0 for status in DeliveryStatus}
    for status, count in db.session.execute(
        select(Delivery.status, func.count()).where(Delivery.notification_id == notification_id).group_by(Delivery.status)
    ):
        counts[status.value] = count
    about = {"id": notification.id, "kind": notification.kind.value, "title": notification.title}
    messages = record_messages(event.organizer_id, "notification.sent",
                               {"notification": about, "counts": counts, "event": event_data(event)},
                               dedupe_key=f"notification-sent-{notification_id}")
    for delivery in db.session.scalars(select(Delivery).where(
            Delivery.notification_id == notification_id, Delivery.status == DeliveryStatus.FAILED)):
        messages += record_messages(event.organizer_id, "delivery.failed", {
            "delivery_id": delivery.id, "subscription_id": delivery.subscription_id, "channel": delivery.channel,
            "attempts": delivery.attempts, "reason": delivery.last_error, "notification": about,
            "event": event_data(event),
        }, dedupe_key=f"delivery-failed-{delivery.id}")
    return messages


def forget_person(rsvp_ids: list[int], subscription_ids: list[int], organizer_ids: list[int], follower: str) -> None:
    """Take an erased person out of the stored messages that name them, so the organizer's log
    and a resend no longer carry them: ``rsvp.changed`` of their RSVPs (their name, as
    ``follower``) and ``delivery.failed`` of their subscriptions (the reason names their address
    or their channel's host). The messages stay, as the events they tell of happened.
    ``organizer_ids`` are whose endpoints may hold such messages. Attempts need nothing: they
    record what the organizer's endpoint answered."""
    about_them = or_(
        and_(WebhookMessage.event_type == "rsvp.changed",
             WebhookMessage.payload[("data", "rsvp_id")].as_integer().in_(rsvp_ids)),
        and_(WebhookMessage.event_type == "delivery.failed",
             WebhookMessage.payload[("data", "subscription_id")].as_integer().in_(subscription_ids)),
    )
    endpoints = select(WebhookEndpoint.id).where(WebhookEndpoint.user_id.in_(organizer_ids))
    on_their_endpoints = WebhookMessage.endpoint_id.in_(endpoints)
    for message in db.session.scalars(select(WebhookMessage).where(on_their_endpoints, about_them)):
        payload = copy.deepcopy(message.payload)
        if message.event_type == "rsvp.changed":
            payload["data"]["follower"] = follower
        elif payload["data"].get("reason"):
            payload["data"]["reason"] = redacted_reason(payload["data"]["reason"])
        message.payload = payload


def cipher_for(config) -> FieldCipher:
    return FieldCipher.from_setting(config["ENCRYPTION_KEYS"], config["SECRET_KEY"])


async def _post(url: str, body: str, headers: dict, allow_private: bool) -> tuple[int | None, str | None]:
    """(status, error) of one POST. Redirects are not followed (a 3xx is a failure, with the
    reason): following one could lead the request to a private address."""
    try:
        check_target(url, allow_private)
        connector = aiohttp.TCPConnector(resolver=GuardedResolver(allow_private), force_close=True)
        async with aiohttp.ClientSession(connector=connector,
                                         timeout=aiohttp.ClientTimeout(total=HTTP_TIMEOUT_SECONDS)) as http:
            async with http.post(url, data=body.encode(), headers=headers, allow_redirects=False) as response:
                if 200 <= response.status < 300:
                    return response.status, None
                if 300 <= response.status < 400:
                    return response.status, f"HTTP {response.status}: redirects are not followed"
                return response.status, f"HTTP {response.status}"
    except TargetRefused as exc:
        return None, str(exc)
    except (aiohttp.ClientError, TimeoutError, OSError) as exc:
        return None, (str(exc) or type(exc).__name__)[:ERROR_MAX]


async def attempt(message_id: int, next_attempt_at: datetime | None, allow_private: bool, config) -> bool:
    """Send the message once, signed now, and record the attempt. True when there is nothing
    more to do (taken, or gone); False to be retried at ``next_attempt_at``."""
    message = db.session.get(WebhookMessage, message_id)
    if message is None:
        return True
    endpoint = message.endpoint
    if not endpoint.is_active:
        message.status, message.next_attempt_at = WebhookMessageStatus.FAILED, None
        db.session.add(WebhookAttempt(message=message, error="The endpoint is disabled."))
        db.session.commit()
        return True
    secret = cipher_for(config).decrypt(endpoint.secret_encrypted)
    body = json.dumps(message.payload, separators=(",", ":"))
    now = datetime.now(timezone.utc)
    db.session.commit()  # no transaction held open across the HTTP call
    status, error = await _post(endpoint.url, body, signed_headers(secret, message.msg_id, now, body), allow_private)
    message = db.session.get(WebhookMessage, message_id)
    if message is None:
        return True  # deleted while it was being sent (its endpoint, or its owner's account)
    succeeded = error is None
    db.session.add(WebhookAttempt(message=message, status_code=status, error=error, succeeded=succeeded))
    if succeeded:
        message.status, message.next_attempt_at = WebhookMessageStatus.DELIVERED, None
    elif next_attempt_at is not None:
        message.status, message.next_attempt_at = WebhookMessageStatus.PENDING, next_attempt_at
    else:
        message.status, message.next_attempt_at = WebhookMessageStatus.FAILED, None
        _disable_if_failing_since(message.endpoint, message.created_at)
    db.session.commit()
    return succeeded


def _disable_if_failing_since(endpoint: WebhookEndpoint, since: datetime) -> None:
    """An endpoint that took nothing since ``since`` (a whole retry window) is disabled, with a
    notice its owner sees, instead of being retried forever."""
    took_something = db.session.scalar(select(exists().where(
        WebhookAttempt.message_id == WebhookMessage.id, WebhookMessage.endpoint_id == endpoint.id,
        WebhookAttempt.succeeded.is_(True), WebhookAttempt.attempted_at >= since,
    )))
    if not took_something:
        endpoint.is_active = False
        endpoint.disabled_reason = (
            f"Disabled on {utcnow():%Y-%m-%d %H:%M} UTC: every delivery since {since:%Y-%m-%d %H:%M} UTC failed. "
            "Fix the endpoint, enable it again, and resend the failed messages."
        )


