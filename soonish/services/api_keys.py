"""Personal API keys for server-to-server integrations: ``sk_...``, shown once, kept as a SHA-256,
named, scoped, optionally expiring, revocable at once."""
import hashlib
import secrets
from datetime import datetime, timedelta, timezone

from sqlalchemy import select, update

from soonish.models import ApiKey, User, db, utcnow
from soonish.services.errors import Forbidden, NotFound, ValidationFailed, owned_or_missing
from soonish.services.events import to_utc
from soonish.i18n import _l

PREFIX = "sk_"
# What a key may do. A session or a JWT may do everything its account may; a key only what
# its scopes name. New scopes go here (and on the views that need them).
SCOPES = {
    "events:read": "Read your events, their notifications, who got them and who answered.",
    "events:write": "Create, change and cancel your events, and set their RSVPs and places.",
    "announce": "Send announcements to an event's followers.",
    "subscriptions:read": "Read the events you follow.",
    "subscriptions:write": "Follow and stop following events, change reminders, answer RSVPs.",
    "channels:write": "Read, add, change and remove your delivery channels.",
    "webhooks:write": "Read, add, change and remove your outgoing webhook endpoints.",
    "communities:read": "Read the communities you help run (their members and audit list) and the ones you follow.",
    "communities:write": "Create communities, invite and remove members, change roles, leave, hand one on; follow and unfollow.",
}
# last_used_at is a hint for people, not an audit log: one write a minute per key is enough.
LAST_USED_RESOLUTION = timedelta(minutes=1)


def _digest(plain: str) -> str:
    return hashlib.sha256(plain.encode()).hexdigest()


def create_key(user: User, name: str, scopes: list[str], expires_at: datetime | None = None) -> tuple[ApiKey, str]:
    """A new key and its plain text, which is never stored and cannot be shown again."""
    name = (name or "").strip()
    if not name or len(name) > 80:
        raise ValidationFailed.field("name", _l("Give the key a name (up to 80 characters), e.g. the integration using it."))
    unknown = sorted(set(scopes) - set(SCOPES))
    if unknown or not scopes:
        raise ValidationFailed.field("scopes", _l("Choose one or more of: %(choices)s.", choices=", ".join(SCOPES)))
    if expires_at is not None:
        expires_at = to_utc(expires_at, timezone.utc, "expires_at")
        if expires_at <= utcnow():
            raise ValidationFailed.field("expires_at", _l("The expiry must be in the future."))
    plain = PREFIX + secrets.token_urlsafe(32)
    key = ApiKey(user_id=user.id, name=name, prefix=plain[:10], key_hash=_digest(plain),
                 scopes=sorted(set(scopes)), expires_at=expires_at)
    db.session.add(key)
    db.session.commit()
    return key, plain


def revoke_key(user: User, key_id: int) -> None:
    key = owned_or_missing(db.session.get(ApiKey, key_id), user, "API key")
    if key.revoked_at is not None:  # revoked keys are gone, like deleted ones
        raise NotFound(_l("No such API key."))
    key.revoked_at = utcnow()
    db.session.commit()


def revoke_all(user: User) -> None:
    """Revoke every live key of ``user``, in the caller's transaction: a password reset (the
    account may have been taken over) and an account's erasure. "Sign out everywhere" leaves keys
    alone, as GitHub's does with personal access tokens: integrations keep running, and each key
    can be revoked on its own."""
    db.session.execute(update(ApiKey).where(ApiKey.user_id == user.id, ApiKey.revoked_at.is_(None))
                       .values(revoked_at=utcnow()))


def is_api_key(token: str) -> bool:
    return token.startswith(PREFIX)


def key_for(plain: str) -> ApiKey | None:
    """The live key ``plain`` is, or None when unknown, revoked, expired or its account erased.
    Checked on every request, so a revoked key stops working at once."""
    key = db.session.scalar(select(ApiKey).where(ApiKey.key_hash == _digest(plain)))
    now = utcnow()
    if key is None or key.revoked_at is not None or (key.expires_at is not None and key.expires_at <= now):
        return None
    if key.user.erased_at is not None:
        return None
    if key.last_used_at is None or key.last_used_at < now - LAST_USED_RESOLUTION:
        key.last_used_at = now
        db.session.commit()
    return key


def check_scope(key: ApiKey | None, scope: str) -> None:
    """Forbidden, naming the scope, when a request made with ``key`` needs one it lacks."""
    if key is not None and scope not in key.scopes:
        raise Forbidden(_l("This API key lacks the scope “%(scope)s”.", scope=scope), {"scope": [scope]})
