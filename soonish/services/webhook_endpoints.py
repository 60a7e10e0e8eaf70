"""Outgoing webhook endpoints: registering them, emitting events to them, and what their owners
see of each message's attempts (with a resend). Delivery itself is durable: one
WebhookDeliveryWorkflow per message (see temporal/webhooks/workflow.py)."""
from flask import current_app
from sqlalchemy import select

from soonish.domain import outbox, outgoing_webhooks
from soonish.field_limits import ENDPOINT_DESCRIPTION_MAX
from soonish.models import Event, Rsvp, RsvpAnswer, User, WebhookEndpoint, WebhookMessage, WebhookMessageStatus, db, utcnow
from soonish.domain.outgoing_webhooks import EVENT_TYPES, TargetRefused
from soonish.services.errors import NotFound, ValidationFailed, owned_or_missing
from soonish.services.pagination import Page, keyset_page
from soonish.i18n import _l


def _clean(url: str | None = None, event_types: list[str] | None = None, description: str | None = None) -> dict:
    """The given fields checked; one error naming every bad field."""
    cleaned, errors = {}, {}
    if url is not None:
        try:
            cleaned["url"] = outgoing_webhooks.check_target(url, bool(current_app.config["ALLOW_PRIVATE_TARGETS"]))
        except TargetRefused as exc:
            errors["url"] = [str(exc)]
    if event_types is not None:
        unknown = sorted(set(event_types) - set(EVENT_TYPES))
        if unknown or not event_types:
            errors["event_types"] = [_l("Choose one or more of: %(choices)s.", choices=", ".join(EVENT_TYPES))]
        cleaned["event_types"] = sorted(set(event_types))
    if description is not None:
        if len(description) > ENDPOINT_DESCRIPTION_MAX:
            errors["description"] = [_l("Up to %(count)s characters.", count=ENDPOINT_DESCRIPTION_MAX)]
        cleaned["description"] = description.strip()
    if errors:
        raise ValidationFailed(_l("Some fields need attention."), errors)
    return cleaned


def create_endpoint(user: User, url: str, event_types: list[str], description: str = "") -> tuple[WebhookEndpoint, str]:
    """The new endpoint and its signing secret (shown to the owner; kept encrypted)."""
    fields = _clean(url, event_types, description)
    secret = outgoing_webhooks.new_secret()
    endpoint = WebhookEndpoint(user_id=user.id, secret_encrypted=outgoing_webhooks.cipher_for(current_app.config).encrypt(secret),
                               **fields)
    db.session.add(endpoint)
    db.session.commit()
    return endpoint, secret


def endpoints_page(user: User, limit: int, cursor: str | None) -> Page:
    query = select(WebhookEndpoint).where(WebhookEndpoint.user_id == user.id)
    return keyset_page(query, WebhookEndpoint.id, WebhookEndpoint.id, limit, cursor)


def get_endpoint(user: User, endpoint_id: int) -> WebhookEndpoint:
    return owned_or_missing(db.session.get(WebhookEndpoint, endpoint_id), user, "webhook endpoint")


def secret_of(endpoint: WebhookEndpoint) -> str:
    return outgoing_webhooks.cipher_for(current_app.config).decrypt(endpoint.secret_encrypted)


def update_endpoint(user: User, endpoint_id: int, changes: dict) -> WebhookEndpoint:
    endpoint = get_endpoint(user, endpoint_id)
    fields = _clean(changes.get("url"), changes.get("event_types"), changes.get("description"))
    for name, value in fields.items():
        setattr(endpoint, name, value)
    if "is_active" in changes:
        endpoint.is_active = bool(changes["is_active"])
        if endpoint.is_active:
            endpoint.disabled_reason = None
    db.session.commit()
    return endpoint


def delete_endpoint(user: User, endpoint_id: int) -> None:
    db.session.delete(get_endpoint(user, endpoint_id))
    db.session.commit()


def messages_page(user: User, endpoint_id: int, limit: int, cursor: str | None) -> Page:
    """The endpoint's messages, newest first, each with its attempts."""
    get_endpoint(user, endpoint_id)
    query = select(WebhookMessage).where(WebhookMessage.endpoint_id == endpoint_id)
    return keyset_page(query, WebhookMessage.id, WebhookMessage.id, limit, cursor, descending=True)


def get_message(user: User, endpoint_id: int, message_id: int) -> WebhookMessage:
    endpoint = get_endpoint(user, endpoint_id)
    message = db.session.get(WebhookMessage, message_id)
    if message is None or message.endpoint_id != endpoint.id:
        raise NotFound(_l("No such message."))
    return message


def resend(user: User, endpoint_id: int, message_id: int) -> WebhookMessage:
    """Send the message again (same webhook-id, so a receiver that got it already can tell)."""
    message = get_message(user, endpoint_id, message_id)
    if not message.endpoint.is_active:
        raise ValidationFailed.field("endpoint", _l("Enable the endpoint before resending to it."))
    message.status, message.next_attempt_at = WebhookMessageStatus.PENDING, utcnow()
    outbox.webhook_message(message.id)
    db.session.commit()
    return message


def emit(owner_id: int, event_type: str, data: dict) -> None:
    """Tell ``owner_id``'s active endpoints that take ``event_type``, in the caller's
    transaction (the caller commits): each message is delivered durably by its own workflow,
    which the outbox drain starts. Never an error for the action that caused it: if Temporal is
    unreachable the outbox row waits and is retried."""
    outgoing_webhooks.record_messages(owner_id, event_type, data)




def subscription_event(event_type: str, subscription) -> None:
    """subscription.created / subscription.cancelled, to the event's organizer."""
    event = subscription.event
    emit(event.organizer_id, event_type, {
        "subscription_id": subscription.id, "status": subscription.status.value,
        "event": outgoing_webhooks.event_data(event),
    })


def event_changed(event_type: str, event: Event) -> None:
    """event.updated / event.cancelled, to the organizer."""
    emit(event.organizer_id, event_type, {"event": outgoing_webhooks.event_data(event)})


def rsvp_changed(rsvp: Rsvp, previous: RsvpAnswer | None, follower: str) -> None:
    """rsvp.changed, to the event's organizer; ``follower`` as the organizer's list shows them."""
    event = rsvp.event
    emit(event.organizer_id, "rsvp.changed", {
        "rsvp_id": rsvp.id, "answer": rsvp.answer.value, "previous_answer": previous.value if previous else None,
        "follower": follower, "answered_at": rsvp.answered_at.isoformat(), "event": outgoing_webhooks.event_data(event),
    })
