"""Outgoing webhooks, the domain part: event types, signing secrets, the SSRF check of a target,
and an attempt to deliver a message: what to send (``prepare_attempt``) and what its outcome
means for the message and its endpoint (``record_attempt``). The send itself is the signed
webhook transport's (``delivery/transports/signed_webhook.py``), through the worker's Courier.
Plain Python over the models (the worker's send_webhook activity and the services both use
it); no Temporal, no Flask request.

Payloads follow the Standard Webhooks spec (standardwebhooks.com): a JSON envelope
``{"type", "timestamp", "data"}``, signed as it leaves with the endpoint's ``whsec_`` secret.
"""
import base64
import copy
import secrets
from datetime import datetime
from urllib.parse import urlsplit

from sqlalchemy import and_, exists, func, or_, select

from soonish.crypto import FieldCipher
from soonish.domain import outbox
from soonish.domain.delivery.outcomes import Failed, Outcome, Sent, redacted_reason
from soonish.domain.delivery.types import Destination, SignedEndpoint
from soonish.domain.messages import Message
from soonish.field_limits import ENDPOINT_URL_MAX
from soonish.i18n import _l
from soonish.models import Delivery, DeliveryStatus, Event, Notification, NotificationKind, WebhookAttempt, WebhookEndpoint, WebhookMessage, WebhookMessageStatus, db, utcnow
from soonish.netguard import PrivateTargetRefused, check_host

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
    "community.event_created": "A public event was created in a community you own (or by you), and its followers "
                               "are being told (after the update-coalescing window; never if it was cancelled within it).",
}
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
        raise TargetRefused(_l("Give the endpoint's URL (up to %(count)s characters).", count=ENDPOINT_URL_MAX))
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise TargetRefused(_l("Not a valid URL (check the port).")) from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise TargetRefused(_l("Use an http:// or https:// URL, e.g. https://example.com/soonish-hook."))
    if port == 0:
        raise TargetRefused(_l("Not a valid URL (check the port)."))
    try:
        check_host(parts.hostname, allow_private)
    except PrivateTargetRefused as exc:
        raise TargetRefused(_l("Refused: %(reason)s. Soonish only delivers to public hosts.", reason=exc)) from exc
    return url


def envelope(event_type: str, data: dict, at: datetime) -> dict:
    return {"type": event_type, "timestamp": at.isoformat(), "data": data}


def event_data(event: Event) -> dict:
    return {"id": event.id, "slug": event.slug, "title": event.title, "status": event.status.value,
            "version": event.version, "starts_at": event.starts_at.isoformat(),
            "ends_at": event.ends_at.isoformat() if event.ends_at else None}


def record_messages(owner_id: int, event_type: str, data: dict, dedupe_key: str | None = None) -> list[WebhookMessage]:
    """A message for each of ``owner_id``'s active endpoints that take ``event_type``, each with
    an outbox row that starts its delivery, in the caller's transaction (the caller commits).
    With ``dedupe_key`` the message ids are derived from it, so recording the same happening
    twice (a retried activity) makes no second message."""
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
        db.session.flush()
        outbox.webhook_message(message.id)
        messages.append(message)
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


def prepare_attempt(message_id: int, allow_private: bool, config) -> tuple[Destination, Message] | Failed | None:
    """What one attempt of the message sends, and where; or the Failed outcome of an endpoint
    that is no longer a public host (to record: nothing is sent); or None when there is nothing
    more to do (the message is gone, or its endpoint disabled: recorded so, here)."""
    message = db.session.get(WebhookMessage, message_id)
    if message is None:
        return None
    endpoint = message.endpoint
    if not endpoint.is_active:
        message.status, message.next_attempt_at = WebhookMessageStatus.FAILED, None
        db.session.add(WebhookAttempt(message=message, error="The endpoint is disabled."))
        db.session.commit()
        return None
    try:
        check_target(endpoint.url, allow_private)  # DNS may have changed since it was saved
    except TargetRefused as exc:
        return Failed(str(exc), permanent=True)
    secret = cipher_for(config).decrypt(endpoint.secret_encrypted)
    # The envelope is the body (``extra``); the webhook-id is the key a receiver dedupes by.
    signed = Message(delivery_key=message.msg_id, title=message.event_type, text="", short="", extra=message.payload)
    return Destination(signed_webhook=SignedEndpoint(endpoint.url, secret)), signed


def record_attempt(message_id: int, next_attempt_at: datetime | None, outcome: Outcome) -> bool:
    """Record what one attempt came to. True when there is nothing more to do (taken, or gone);
    False to be retried at ``next_attempt_at``. Every outcome but Sent is retried on the
    workflow's schedule, a permanent one too: the endpoint's owner may fix it within the window,
    and an endpoint that takes nothing for the whole window is disabled."""
    message = db.session.get(WebhookMessage, message_id)
    if message is None:
        return True  # deleted while it was being sent (its endpoint, or its owner's account)
    succeeded = isinstance(outcome, Sent)
    db.session.add(WebhookAttempt(message=message, status_code=outcome.http_status, error=attempt_error(outcome),
                                  succeeded=succeeded))
    if succeeded:
        message.status, message.next_attempt_at = WebhookMessageStatus.DELIVERED, None
    elif next_attempt_at is not None:
        message.status, message.next_attempt_at = WebhookMessageStatus.PENDING, next_attempt_at
    else:
        message.status, message.next_attempt_at = WebhookMessageStatus.FAILED, None
        _disable_if_failing_since(message.endpoint, message.created_at)
    db.session.commit()
    return succeeded


def attempt_error(outcome: Outcome) -> str | None:
    """The attempt log's words for an outcome. An HTTP answer is told as the log always told it
    ("HTTP 503"; the status code is beside it); anything else by the outcome's reason."""
    if isinstance(outcome, Sent):
        return None
    if outcome.http_status is None:
        return outcome.reason[:ERROR_MAX]
    if 300 <= outcome.http_status < 400:
        return f"HTTP {outcome.http_status}: redirects are not followed"
    return f"HTTP {outcome.http_status}"


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


