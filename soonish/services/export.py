"""A person's data, as one JSON document (GDPR articles 15 and 20): the account, the events
they organize, what they follow and when they are reminded, their RSVP answers (with their
place on a waitlist), their channels (URLs decrypted: this goes to their owner only), their
chat identities, their webhook endpoints and API keys (never a signing secret or a key), and
every message sent to them."""
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import selectinload

from soonish.domain import waitlist
from soonish.domain.push import PushSubscription
from soonish.models import (
    ApiKey, ChatIdentity, Delivery, Event, Integration, Notification, Rsvp, Subscription, User, WebhookEndpoint, db,
    utcnow,
)
from soonish.services.integrations import cipher

EXPORT_FORMAT = 1


def _when(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def export_data(user: User) -> dict:
    events = db.session.scalars(select(Event).where(Event.organizer_id == user.id).order_by(Event.id))
    subscriptions = db.session.scalars(
        select(Subscription).where(Subscription.user_id == user.id)
        .options(selectinload(Subscription.selectors), selectinload(Subscription.event)).order_by(Subscription.id)
    )
    integrations = db.session.scalars(select(Integration).where(Integration.user_id == user.id).order_by(Integration.id))
    identities = db.session.scalars(select(ChatIdentity).where(ChatIdentity.user_id == user.id).order_by(ChatIdentity.id))
    rsvps = db.session.scalars(
        select(Rsvp).where(Rsvp.user_id == user.id).options(selectinload(Rsvp.event)).order_by(Rsvp.id)
    )
    endpoints = db.session.scalars(
        select(WebhookEndpoint).where(WebhookEndpoint.user_id == user.id).order_by(WebhookEndpoint.id)
    )
    keys = db.session.scalars(select(ApiKey).where(ApiKey.user_id == user.id).order_by(ApiKey.id))
    messages = db.session.execute(
        select(Delivery, Notification, Event)
        .join(Subscription, Subscription.id == Delivery.subscription_id)
        .join(Notification, Notification.id == Delivery.notification_id)
        .join(Event, Event.id == Notification.event_id)
        .where(Subscription.user_id == user.id).order_by(Delivery.id)
    )
    field_cipher = cipher()
    return {
        "format": EXPORT_FORMAT,
        "exported_at": _when(utcnow()),
        "account": {
            "id": user.id, "email": user.email, "display_name": user.display_name,
            "email_verified": user.is_verified, "created_at": _when(user.created_at),
            "has_calendar_feed": user.calendar_token is not None,
            "email_fallback": user.email_fallback,
        },
        "events_organized": [
            {
                "id": e.id, "slug": e.slug, "title": e.title, "description": e.description, "location": e.location,
                "starts_at": _when(e.starts_at), "ends_at": _when(e.ends_at), "timezone": e.timezone,
                "visibility": e.visibility.value, "status": e.status.value, "created_at": _when(e.created_at),
            }
            for e in events
        ],
        "follows": [
            {
                "id": s.id, "event_id": s.event_id, "event_title": s.event.title, "status": s.status.value,
                "reminder_offsets": list(s.reminder_offsets or []), "created_at": _when(s.created_at),
                "confirmed_at": _when(s.confirmed_at),
                "selectors": [
                    {"integration_id": sel.integration_id, "tag": sel.tag, "chat_identity_id": sel.chat_identity_id}
                    for sel in s.selectors
                ],
            }
            for s in subscriptions
        ],
        "rsvps": [
            {
                "event_id": r.event_id, "event_title": r.event.title, "answer": r.answer.value,
                "answered_at": _when(r.answered_at), "waitlist_position": waitlist.place_in_line(r),
                "place_offered_until": _when(r.offer_expires_at),
            }
            for r in rsvps
        ],
        "channels": [
            {
                "id": i.id, "name": i.name, "tag": i.tag, "email": i.email_address,
                "url": field_cipher.decrypt(i.apprise_url_encrypted) if i.apprise_url_encrypted is not None else None,
                "push_endpoint": PushSubscription.from_json(field_cipher.decrypt(i.push_subscription_encrypted)).endpoint
                if i.is_push else None,
                "is_active": i.is_active, "created_at": _when(i.created_at),
            }
            for i in integrations
        ],
        "chat_identities": [
            {"id": c.id, "platform": c.platform, "workspace_id": c.workspace_id, "external_user_id": c.external_user_id,
             "kind": c.kind, "created_at": _when(c.created_at)}
            for c in identities
        ],
        "webhook_endpoints": [
            {
                "id": w.id, "url": w.url, "description": w.description, "event_types": list(w.event_types),
                "is_active": w.is_active, "disabled_reason": w.disabled_reason, "created_at": _when(w.created_at),
            }
            for w in endpoints
        ],
        "api_keys": [
            {
                "id": k.id, "name": k.name, "scopes": list(k.scopes), "created_at": _when(k.created_at),
                "last_used_at": _when(k.last_used_at), "expires_at": _when(k.expires_at),
                "revoked_at": _when(k.revoked_at),
            }
            for k in keys
        ],
        "messages_received": [
            {
                "notification_id": n.id, "event_id": e.id, "event_title": e.title, "kind": n.kind.value,
                "title": n.title, "body": n.body, "channel": d.channel, "target": d.target, "status": d.status.value,
                "attempts": d.attempts, "sent_at": _when(d.sent_at), "created_at": _when(d.created_at),
            }
            for d, n, e in messages
        ],
    }
