"""Bounces and complaints from a sending provider's webhook, for deployments that send through one:
Amazon SES (through SNS), Postmark and Mailgun. Each request is verified as its provider
documents before anything in it is believed; what it reports becomes ``mail_reputation.Bounce``
values, and the same rules apply as to a DSN mailed to `soonish mail-in`.

- **SES/SNS**: the message's signature with the certificate at ``SigningCertURL``, which must be
  https on ``sns.<region>.amazonaws.com``; SignatureVersion 1 is SHA1withRSA, 2 SHA256withRSA,
  over the fields AWS lists for the message's Type, in that order. A subscription confirmation
  is confirmed by fetching its SubscribeURL (on the same kind of host).
- **Postmark**: HTTP Basic credentials set in the webhook's URL (Postmark's documented way to
  protect a webhook), compared in constant time.
- **Mailgun**: HMAC-SHA256 of timestamp + token with the webhook signing key; the timestamp must
  be recent and a token is taken once (replays are refused).
"""
import base64
import hashlib
import hmac
import json
import re
import threading
import time
import urllib.request
from collections import OrderedDict
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding

from soonish.models import BounceKind
from soonish.domain.bounces import first_status, kind_of_status, reason_for
from soonish.domain.mail_reputation import Bounce, Source

SNS_CERT_HOST = re.compile(r"sns\.[a-z0-9-]+\.amazonaws\.com(\.cn)?")
# The fields each SNS message type signs, in the order AWS's documentation lists them.
SNS_SIGNED_FIELDS = {
    "Notification": ("Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"),
    "SubscriptionConfirmation": ("Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type"),
    "UnsubscribeConfirmation": ("Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type"),
}
SNS_HASHES = {"1": hashes.SHA1, "2": hashes.SHA256}
CERT_FETCH_TIMEOUT = 10
MAILGUN_MAX_AGE_SECONDS = 300
MAILGUN_TOKENS_KEPT = 10_000
_DELIVERY_KEY = re.compile(r"<?soonish-(\d+)(?:@[^>]*)?>?")


class Refused(Exception):
    """The request is not what its provider would send: refused, nothing recorded."""


# Amazon SES through SNS ----------------------------------------------------------------------


class SnsCertificates:
    """Signing certificates by URL, fetched once each (AWS rotates them rarely, by new URLs)."""

    def __init__(self) -> None:
        self._by_url: dict[str, x509.Certificate] = {}
        self._lock = threading.Lock()

    def get(self, url: str) -> x509.Certificate:
        check_sns_url(url)
        with self._lock:
            if url not in self._by_url:
                with urllib.request.urlopen(url, timeout=CERT_FETCH_TIMEOUT) as answer:  # noqa: S310 (https, AWS host)
                    self._by_url[url] = x509.load_pem_x509_certificate(answer.read())
            return self._by_url[url]

    def keep(self, url: str, certificate: x509.Certificate) -> None:
        """Hold a certificate already known for ``url`` (one fetched ahead, or shipped)."""
        check_sns_url(url)
        with self._lock:
            self._by_url[url] = certificate


SNS_CERTIFICATES = SnsCertificates()


def check_sns_url(url: str) -> None:
    parts = urlsplit(url)
    if parts.scheme != "https" or not SNS_CERT_HOST.fullmatch(parts.hostname or "") or parts.port not in (None, 443):
        raise Refused("the signing certificate is not on an SNS host")


def sns_string_to_sign(message: dict) -> bytes:
    fields = SNS_SIGNED_FIELDS.get(message.get("Type", ""))
    if fields is None:
        raise Refused("not an SNS message type")
    lines = []
    for name in fields:
        if name in message:  # Subject is optional: absent, it is left out, name and all
            lines += [name, str(message[name])]
    return ("\n".join(lines) + "\n").encode()


def verify_sns(message: dict, certificates: SnsCertificates = SNS_CERTIFICATES) -> None:
    digest = SNS_HASHES.get(str(message.get("SignatureVersion", "")))
    if digest is None:
        raise Refused("unknown SignatureVersion")
    try:
        signature = base64.b64decode(message.get("Signature", ""), validate=True)
    except ValueError as exc:
        raise Refused("the signature is not base64") from exc
    certificate = certificates.get(str(message.get("SigningCertURL", "")))
    try:
        certificate.public_key().verify(signature, sns_string_to_sign(message), padding.PKCS1v15(), digest())
    except InvalidSignature as exc:
        raise Refused("bad signature") from exc


def ses_bounces(message: dict, topic_arns: list[str]) -> list[Bounce]:
    """A verified SNS message's SES bounces and complaints (``topic_arns``: the topics we take;
    empty: any). A subscription confirmation is confirmed here."""
    if topic_arns and message.get("TopicArn") not in topic_arns:
        raise Refused("not one of our topics")
    if message["Type"] == "SubscriptionConfirmation":
        check_sns_url(message["SubscribeURL"])
        with urllib.request.urlopen(message["SubscribeURL"], timeout=CERT_FETCH_TIMEOUT):  # noqa: S310
            pass
        return []
    if message["Type"] != "Notification":
        return []
    try:
        event = json.loads(message["Message"])
    except (TypeError, ValueError) as exc:
        raise Refused("the notification's Message is not JSON") from exc
    kind = event.get("notificationType") or event.get("eventType")
    delivery_id = _delivery_of_headers({h.get("name", "").lower(): h.get("value", "")
                                        for h in event.get("mail", {}).get("headers", [])})
    bounces = []
    if kind == "Bounce":
        bounce = event.get("bounce", {})
        permanent = bounce.get("bounceType") == "Permanent"
        for recipient in bounce.get("bouncedRecipients", []):
            status = recipient.get("status") or first_status(recipient.get("diagnosticCode", ""))
            bounce_kind = BounceKind.HARD if permanent else BounceKind.SOFT  # the provider's word
            reason = reason_for(status, recipient.get("diagnosticCode", "") or bounce.get("bounceSubType", ""))
            bounces.append(Bounce(recipient.get("emailAddress", ""), bounce_kind, status or "", reason, Source.SES,
                                  delivery_id))
    elif kind == "Complaint":
        complaint = event.get("complaint", {})
        if complaint.get("complaintFeedbackType") != "not-spam":
            for recipient in complaint.get("complainedRecipients", []):
                bounces.append(Bounce(recipient.get("emailAddress", ""), BounceKind.COMPLAINT, "",
                                      "reported as spam (Amazon SES complaint)", Source.SES, delivery_id))
    return [b for b in bounces if "@" in b.address]


# Postmark ------------------------------------------------------------------------------------


def verify_postmark(authorization: str | None, user: str, password: str) -> None:
    if not user or not password:
        raise Refused("Postmark webhooks are not set up (SOONISH_POSTMARK_WEBHOOK_USER/PASSWORD)")
    expected = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
    if not hmac.compare_digest((authorization or "").encode(), expected.encode()):
        raise Refused("wrong credentials")


# Postmark's bounce types that say the address does not take mail (its "hard" ones); the
# others (SoftBounce, Transient, DnsError, AutoResponder...) are soft or no bounce at all.
POSTMARK_HARD = {"HardBounce", "BadEmailAddress", "ManuallyDeactivated", "Unknown"}
POSTMARK_NO_BOUNCE = {"AutoResponder", "OpenRelayTest", "Subscribe", "Unsubscribe", "ChallengeVerification",
                      "AddressChange", "Delivery"}


def postmark_bounces(payload: dict) -> list[Bounce]:
    record_type = payload.get("RecordType")
    address = str(payload.get("Email", ""))
    if "@" not in address:
        return []
    if record_type == "SpamComplaint":
        return [Bounce(address, BounceKind.COMPLAINT, "", "reported as spam (Postmark spam complaint)", Source.POSTMARK)]
    if record_type != "Bounce" or payload.get("Type") in POSTMARK_NO_BOUNCE:
        return []
    details = str(payload.get("Details") or payload.get("Description") or "")
    status = first_status(details)
    kind = BounceKind.HARD if payload.get("Type") in POSTMARK_HARD else BounceKind.SOFT
    return [Bounce(address, kind, status, reason_for(status, details), Source.POSTMARK)]


# Mailgun -------------------------------------------------------------------------------------


class MailgunTokens:
    """Tokens already taken (a signed request replayed is refused), the newest kept."""

    def __init__(self) -> None:
        self._seen: OrderedDict[str, None] = OrderedDict()
        self._lock = threading.Lock()

    def take(self, token: str) -> bool:
        with self._lock:
            if token in self._seen:
                return False
            self._seen[token] = None
            while len(self._seen) > MAILGUN_TOKENS_KEPT:
                self._seen.popitem(last=False)
            return True


MAILGUN_TOKENS = MailgunTokens()


def verify_mailgun(payload: dict, signing_key: str, now: float | None = None,
                   tokens: MailgunTokens = MAILGUN_TOKENS) -> None:
    if not signing_key:
        raise Refused("Mailgun webhooks are not set up (SOONISH_MAILGUN_WEBHOOK_SIGNING_KEY)")
    signature = payload.get("signature")
    if not isinstance(signature, dict):
        raise Refused("no signature")
    timestamp, token, given = (str(signature.get(k, "")) for k in ("timestamp", "token", "signature"))
    expected = hmac.new(signing_key.encode(), (timestamp + token).encode(), hashlib.sha256).hexdigest()
    if not token or not hmac.compare_digest(expected, given):
        raise Refused("bad signature")
    if not timestamp.isdigit() or abs((now or time.time()) - int(timestamp)) > MAILGUN_MAX_AGE_SECONDS:
        raise Refused("the signature is too old")
    if not tokens.take(token):
        raise Refused("a request already taken")


def mailgun_bounces(payload: dict) -> list[Bounce]:
    event = payload.get("event-data")
    if not isinstance(event, dict):
        return []
    address = str(event.get("recipient", ""))
    headers = {k.lower(): v for k, v in (event.get("message", {}).get("headers") or {}).items()}
    delivery_id = _delivery_of_headers(headers)
    if "@" not in address:
        return []
    if event.get("event") == "complained":
        return [Bounce(address, BounceKind.COMPLAINT, "", "reported as spam (Mailgun complaint)", Source.MAILGUN,
                       delivery_id)]
    if event.get("event") != "failed":
        return []
    status_block = event.get("delivery-status") or {}
    words = str(status_block.get("description") or status_block.get("message") or event.get("reason", ""))
    status = first_status(words) or str(status_block.get("code") or "")
    if event.get("severity") == "permanent":
        kind = kind_of_status(status) if status.startswith("5") else BounceKind.HARD
    else:
        kind = BounceKind.SOFT
    return [Bounce(address, kind, status, reason_for(status, words), Source.MAILGUN, delivery_id)]


def _delivery_of_headers(headers: dict[str, str]) -> int | None:
    """The ledger delivery a provider's event is about, from the headers we sent (the request is
    verified, so its copy of them is the provider's word)."""
    for name in ("x-soonish-delivery", "message-id"):
        match = _DELIVERY_KEY.fullmatch(str(headers.get(name, "")).strip())
        if match:
            return int(match.group(1))
    return None
