"""Signed tokens for the links in mails (confirm, manage, unsubscribe, verify) and public URLs."""
import re
import secrets

from itsdangerous import BadSignature, SignatureExpired, Signer, URLSafeTimedSerializer


class LinkPurpose:
    CONFIRM = "confirm-subscription"
    MANAGE = "manage-subscription"
    VERIFY_EMAIL = "verify-email"
    LINK_CHAT = "link-chat-identity"
    VERIFY_CHANNEL = "verify-email-channel"
    RESET_PASSWORD = "reset-password"
    CHANGE_EMAIL = "change-email"
    UNDO_EMAIL_CHANGE = "undo-email-change"
    DELETE_ACCOUNT = "delete-account"
    FORGET_ADDRESS = "forget-address"
    RSVP = "rsvp-answer"
    RSVP_OFFER = "rsvp-waitlist-offer"
    COMMUNITY_INVITE = "community-invite"
    CONFIRM_COMMUNITY_FOLLOW = "confirm-community-follow"
    MANAGE_COMMUNITY_FOLLOW = "manage-community-follow"
    # The one-tap "follow this event" in a community's new-event message (a suggested subscription).
    FOLLOW_SUGGESTED = "follow-suggested-event"
    CONFIRM_SERIES_FOLLOW = "confirm-series-follow"
    LIFT_SUPPRESSION = "lift-suppression"
    # "Leave the whole series" in an occurrence's mails: [series id, user id].
    LEAVE_SERIES = "leave-series"


class LinkInvalid(Exception):
    def __init__(self, expired: bool) -> None:
        super().__init__("link expired" if expired else "link invalid")
        self.expired = expired


def sign(secret: str, purpose: str, payload) -> str:
    return URLSafeTimedSerializer(secret, salt=purpose).dumps(payload)


def unsign(secret: str, purpose: str, token: str, max_age: int | None = None):
    try:
        return URLSafeTimedSerializer(secret, salt=purpose).loads(token, max_age=max_age)
    except SignatureExpired as exc:
        raise LinkInvalid(expired=True) from exc
    except BadSignature as exc:
        raise LinkInvalid(expired=False) from exc


def read_unverified(secret: str, purpose: str, token: str) -> tuple[bool, object]:
    """(signature holds, payload) of a link however old or damaged, or (False, None): for
    saying what a failed link was about, never for acting on it."""
    # loads_unsafe answers (False, None) itself for what it can't decode; with no max_age, an
    # expired link's signature still counts as holding.
    return URLSafeTimedSerializer(secret, salt=purpose).loads_unsafe(token)


def public_url(base: str, path: str) -> str:
    return base.rstrip("/") + path


def new_slug(title: str) -> str:
    """The address part of a new event or series, from its title."""
    # The random tail makes unlisted links unguessable and slugs unique.
    base = re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")[:60] or "event"
    return f"{base}-{secrets.token_hex(3)}"


def event_path(slug: str) -> str:
    return f"/e/{slug}"


def confirm_path(token: str) -> str:
    return f"/s/confirm/{token}"


def manage_path(token: str) -> str:
    return f"/s/manage/{token}"


def unsubscribe_path(token: str) -> str:
    return f"/s/unsubscribe/{token}"


def verify_email_path(token: str) -> str:
    return f"/verify/{token}"


def community_invite_path(token: str) -> str:
    return f"/c/invites/{token}"


def series_follow_confirm_path(token: str) -> str:
    return f"/series/follows/confirm/{token}"


def leave_series_path(token: str) -> str:
    return f"/series/leave/{token}"


def community_follow_confirm_path(token: str) -> str:
    return f"/c/follows/confirm/{token}"


def community_follow_manage_path(token: str) -> str:
    return f"/c/follows/{token}"


def community_follow_unsubscribe_path(token: str) -> str:
    return f"/c/follows/{token}/unsubscribe"


def follow_suggested_path(token: str) -> str:
    return f"/s/follow/{token}"


def link_chat_path(token: str) -> str:
    return f"/link/{token}"


def verify_channel_path(token: str) -> str:
    return f"/channels/verify/{token}"


def reset_password_path(token: str) -> str:
    return f"/reset-password/{token}"


def change_email_path(token: str) -> str:
    return f"/account/email/confirm/{token}"


def undo_email_change_path(token: str) -> str:
    return f"/account/email/undo/{token}"


def delete_account_path(token: str) -> str:
    return f"/account/delete/{token}"


def forget_address_path(token: str) -> str:
    return f"/s/forget/{token}"


def lift_suppression_path(token: str) -> str:
    return f"/account/mail/lift/{token}"
def rsvp_path(token: str) -> str:
    return f"/r/{token}"


def rsvp_offer_path(token: str) -> str:
    return f"/r/offer/{token}"


ADDRESS_TAG_SALT = "link-address-tag"


def address_tag(secret: str, address: str) -> str:
    """A keyed fingerprint of an email address, for a link to carry in its place: a link's payload
    is signed, not encrypted, and links end up in logs, proxies and referrers. The tag ties the
    link to the address it was mailed to, yet reads as nothing (and without the secret no list of
    guessed addresses can be matched against it)."""
    return Signer(secret, salt=ADDRESS_TAG_SALT).get_signature(address).decode()


def carries_address(secret: str, carried: str, address: str | None) -> bool:
    """Whether ``carried``, from a link's payload, names ``address``: as its tag, or, in channel
    verification links mailed before tags, as the address itself (those work until they expire,
    EMAIL_CHANNEL_LINK_MAX_AGE after this change is deployed; then that branch goes)."""
    if address is None:
        return False
    if "@" in carried:  # an old link: the address itself (a tag is URL-safe base64, never an @)
        return carried == address
    return Signer(secret, salt=ADDRESS_TAG_SALT).verify_signature(address.encode(), carried.encode())


def rsvp_token(secret: str, event_id: int, user_id: int, address: str) -> str:
    """The one-tap answer links, in a mail to ``address`` (user ``user_id``'s) about an event."""
    return sign(secret, LinkPurpose.RSVP, [event_id, user_id, address_tag(secret, address)])


def rsvp_offer_token(secret: str, rsvp_id: int, expires_at) -> str:
    """The accept link of a waitlist offer; the expiry in it ties it to that one offer."""
    return sign(secret, LinkPurpose.RSVP_OFFER, [rsvp_id, expires_at.isoformat()])
