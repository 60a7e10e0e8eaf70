"""Web Push devices: what a browser's subscription must be to become a channel, its VAPID keys,
the signed single-use token its notification's actions answer with, and removing a device its
push service says is gone.

A subscription is what ``PushManager.subscribe()`` gives the page: an endpoint URL on the
browser's push service (FCM, Mozilla, Apple), the browser's P-256 public key (``p256dh``, 65
bytes uncompressed) and a 16-byte auth secret (RFC 8291), both base64url. The endpoint is a
delivery target like a webhook URL, so it passes the same private-address rules (netguard).
"""
import base64
import binascii
import hashlib
import json
import re
from dataclasses import asdict, dataclass
from urllib.parse import urlsplit

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy import delete, select, update

from soonish.i18n import _, _l
from soonish.links import LinkInvalid, unsign, sign
from soonish.models import Delivery, Integration, SubscriptionSelector, User, db, utcnow
from soonish.models.integration import PUSH_SCHEME
from soonish.netguard import PrivateTargetRefused, check_host

ENDPOINT_MAX = 1000  # push services' endpoints run to ~200-400 characters
P256DH_BYTES = 65  # an uncompressed P-256 point: 0x04, x, y
AUTH_BYTES = 16
ANSWER_PURPOSE = "push-answer"
# RSVP answers a notification offers, and the still-coming check's (services/rsvp.py's choices).
RSVP_ACTIONS = (("going", _l("Going")), ("no", _l("Can't go")))
STILL_COMING_ACTIONS = (("confirm", _l("Yes, still coming")), ("no", _l("Can't make it")))


def answered_texts() -> dict[str, str]:
    """What the service worker shows once a notification's button has sent its answer (by the
    answer the API gives back, "saved" for any other, "failed" when it was refused), in the
    language being written in."""
    return {
        "going": _("You're going"),
        "no": _("Answer saved: can't go"),
        "confirm": _("Thanks, see you there"),
        "waitlisted": _("It's full: you're on the waitlist"),
        "saved": _("Answer saved"),
        "failed": _("That didn't work: answer on the event's page"),
    }


class SubscriptionRefused(ValueError):
    """A subscription that can't become a channel; ``field`` names the part at fault."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


@dataclass(frozen=True)
class PushSubscription:
    endpoint: str
    p256dh: str  # base64url, as the browser gives it
    auth: str

    @property
    def origin(self) -> str:
        """The VAPID JWT's audience: the push service's scheme, host and port."""
        parts = urlsplit(self.endpoint)
        return f"{parts.scheme}://{parts.netloc}"

    @property
    def host(self) -> str:
        return urlsplit(self.endpoint).hostname or ""

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> "PushSubscription":
        return cls(**json.loads(text))


def b64url_decode(value: str) -> bytes:
    return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))


def b64url_encode(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _key(raw, field: str, size: int, what: str) -> str:
    value = raw.strip() if isinstance(raw, str) else ""
    try:
        decoded = b64url_decode(value) if re.fullmatch(r"[A-Za-z0-9_-]+=*", value) else b""
    except (binascii.Error, ValueError):
        decoded = b""
    if len(decoded) != size or (size == P256DH_BYTES and decoded[0] != 4):
        raise SubscriptionRefused(field, _l("%(what)s must be %(size)s bytes in base64url, as the browser gives it.", what=what, size=size))
    return value.rstrip("=")


def check_subscription(raw, allow_private: bool) -> PushSubscription:
    """A browser's subscription as a channel may keep it; SubscriptionRefused naming the field
    at fault. With ``allow_private`` (tests, `make run`) an http endpoint on a private address is
    fine; otherwise only https to a public host, as browsers' push services are."""
    if not isinstance(raw, dict):
        raise SubscriptionRefused("subscription", _l("Give the browser's push subscription: endpoint and keys."))
    endpoint = raw.get("endpoint")
    endpoint = endpoint.strip() if isinstance(endpoint, str) else ""
    parts = urlsplit(endpoint)
    try:
        port_ok = parts.port is None or 0 < parts.port < 65536
    except ValueError:
        port_ok = False
    if not endpoint or len(endpoint) > ENDPOINT_MAX or parts.scheme not in ("https", "http") or not parts.hostname \
            or not port_ok or parts.username or parts.password or any(c.isspace() for c in endpoint):
        raise SubscriptionRefused("subscription.endpoint", _l("This is not a push service's URL."))
    if parts.scheme != "https" and not allow_private:
        raise SubscriptionRefused("subscription.endpoint", _l("A push endpoint must use https."))
    try:
        check_host(parts.hostname, allow_private)
    except PrivateTargetRefused as exc:
        raise SubscriptionRefused("subscription.endpoint", _l("Refused: %(reason)s. Soonish only pushes to public hosts.", reason=exc)) from exc
    keys = raw.get("keys") if isinstance(raw.get("keys"), dict) else {}
    return PushSubscription(
        endpoint,
        _key(keys.get("p256dh"), "subscription.keys.p256dh", P256DH_BYTES, "The browser's key (p256dh)"),
        _key(keys.get("auth"), "subscription.keys.auth", AUTH_BYTES, "The auth secret"),
    )


def endpoint_hash(endpoint: str) -> str:
    return hashlib.sha256(endpoint.encode()).hexdigest()


def mask(subscription: PushSubscription) -> str:
    """What the Channels page may show: the push service's host ("push://fcm.googleapis.com")."""
    return f"{PUSH_SCHEME}://{subscription.host}"


_BROWSERS = (("Edg/", "Edge"), ("OPR/", "Opera"), ("SamsungBrowser/", "Samsung Internet"), ("Firefox/", "Firefox"),
             ("Chrome/", "Chrome"), ("Chromium/", "Chromium"), ("Safari/", "Safari"))
_SYSTEMS = (("Android", "Android"), ("iPhone", "iPhone"), ("iPad", "iPad"), ("Windows", "Windows"),
            ("Mac OS X", "macOS"), ("CrOS", "ChromeOS"), ("Linux", "Linux"))


def device_label(user_agent: str) -> str:
    """A device's name from its browser's User-Agent: "Chrome on Android", "Firefox on Linux"."""
    user_agent = user_agent or ""
    browser = next((name for token, name in _BROWSERS if token in user_agent), "Browser")
    system = next((name for token, name in _SYSTEMS if token in user_agent), "")
    return f"{browser} on {system}" if system else f"{browser} (this device)"


# VAPID keys (RFC 8292) -------------------------------------------------------------------


def new_vapid_key() -> str:
    """A new VAPID private key: the P-256 scalar, 32 bytes in base64url (py-vapid reads it)."""
    key = ec.generate_private_key(ec.SECP256R1())
    return b64url_encode(key.private_numbers().private_value.to_bytes(32, "big"))


def vapid_public_key(private_key: str) -> str:
    """The browser's ``applicationServerKey``: the public point, uncompressed, base64url."""
    key = ec.derive_private_key(int.from_bytes(b64url_decode(private_key.strip()), "big"), ec.SECP256R1())
    return b64url_encode(key.public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint))


# Answers from a notification's actions ---------------------------------------------------


@dataclass(frozen=True)
class PushAnswer:
    delivery_id: int
    event_id: int
    user_id: int
    still_coming: bool


def answer_token(secret: str, answer: PushAnswer) -> str:
    """The token a push notification's actions answer with: it names the delivery, so it works
    once (``claim_answer``), and needs no cookie (a notification is answered from the worker)."""
    return sign(secret, ANSWER_PURPOSE, [answer.delivery_id, answer.event_id, answer.user_id, answer.still_coming])


class AnswerRefused(ValueError):
    def __init__(self, message: str, used: bool = False) -> None:
        super().__init__(message)
        self.message = message
        self.used = used


def read_answer_token(secret: str, token, max_age: int) -> PushAnswer:
    try:
        delivery_id, event_id, user_id, still_coming = unsign(secret, ANSWER_PURPOSE, str(token or ""), max_age)
        return PushAnswer(int(delivery_id), int(event_id), int(user_id), bool(still_coming))
    except LinkInvalid as exc:
        raise AnswerRefused(_l("These buttons have expired; answer on the event's page.") if exc.expired
                            else _l("This answer's token is not valid.")) from exc
    except (TypeError, ValueError) as exc:
        raise AnswerRefused(_l("This answer's token is not valid.")) from exc


def claim_answer(answer: PushAnswer) -> None:
    """Mark the delivery's token used, in the caller's transaction: of two answers sent at once
    only one finds it unused (a conditional update)."""
    claimed = db.session.execute(
        update(Delivery).where(Delivery.id == answer.delivery_id, Delivery.answered_at.is_(None))
        .values(answered_at=utcnow())
    )
    if not claimed.rowcount:
        raise AnswerRefused(_l("This notification was answered already; change your answer on the event's page."),
                            used=True)


# Devices that are gone ---------------------------------------------------------------------


def find_device(endpoint: str) -> Integration | None:
    return db.session.scalar(select(Integration).where(Integration.push_endpoint_hash == endpoint_hash(endpoint)))


@dataclass(frozen=True)
class RemovedDevice:
    """A device removed for good whose owner has an account to be told at."""

    user_id: int
    name: str


def remove_gone(endpoints: list[str]) -> list[RemovedDevice]:
    """Remove the channels whose push service answered 404/410: the browser unsubscribed, or
    its subscription expired, and it never comes back (RFC 8030 §6.2). In the caller's
    transaction; returns those of them an account owned (an anonymous device's owner has no
    address to be told at). Only the rows this call deletes are returned: of two batches
    told "gone" for one device at once, one tells its owner."""
    if not endpoints:
        return []
    hashes = sorted({endpoint_hash(endpoint) for endpoint in endpoints})
    ids = list(db.session.scalars(select(Integration.id).where(Integration.push_endpoint_hash.in_(hashes))))
    if not ids:
        return []
    # SQLite enforces no foreign keys here: the routes to the device go by hand.
    db.session.execute(delete(SubscriptionSelector).where(SubscriptionSelector.integration_id.in_(ids)))
    removed = db.session.execute(
        delete(Integration).where(Integration.id.in_(ids)).returning(Integration.user_id, Integration.name),
        execution_options={"synchronize_session": False},
    ).all()
    accounts = set(db.session.scalars(select(User.id).where(
        User.id.in_({row.user_id for row in removed}), User.email.is_not(None))))
    return [RemovedDevice(row.user_id, row.name) for row in removed if row.user_id in accounts]
