"""The sender's standing with mailbox providers: which send a bounce answers (VERP), what a bounce
or complaint does (the suppression list), and who is not mailed any more.

- **Return path per message (VERP).** Each mail leaves with the envelope sender
  ``bounces+<ref>-<signature>@<BOUNCE_DOMAIN>``: ``ref`` is ``d<delivery id>`` for a ledger
  delivery, ``m`` for any other mail; the signature is a keyed hash of the ref and the recipient's
  address. A bounce to that address names its delivery and its recipient without parsing
  guesswork, and a forged one matches no address (``signed_for``): it is ignored.
- **Suppression.** A hard bounce (5.x.x, a provider's "Permanent") and a complaint suppress the
  address at once; soft bounces (4.x.x, a full mailbox) after ``SOFT_BOUNCES_TO_SUPPRESS`` within
  ``SOFT_BOUNCE_WINDOW``. A complaint also ends that person's follows of that organizer's events
  (the caller writes their reminder changes to the outbox: ``Recorded.unfollowed``).
  Suppressed addresses are skipped where sends are planned (``suppressed``); the owner lifts it
  (``lift``) by confirming a fresh link.

Runs in the app context (config, database).
"""
import base64
import functools
import hashlib
import hmac
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import func, select, update
from sqlalchemy.orm import joinedload

from soonish.models import (
    BounceKind, Delivery, DeliveryStatus, Event, Integration, MailBounce, Notification, Subscription, SubscriptionStatus,
    SuppressedAddress, User, db, insert_ignoring_duplicates, utcnow,
)
from soonish.models.mail_reputation import REASON_MAX
from soonish.observability import record_bounce
from soonish.domain.privacy import mask_address
from soonish.domain.bounces import BounceReport, Returned, first_status, kind_of_status, reason_for

VERP_PREFIX = "bounces+"
# The bounce domain's one other mailbox: the address registered with mailbox providers' feedback
# loops (Microsoft JMRP, Yahoo CFL), which send complaints there rather than to a return path.
FEEDBACK_LOCAL_PART = "feedback"
ANY_MAIL_REF = "m"
SIGNATURE_BYTES = 10  # 80 bits, 16 base32 characters: the local part stays under 64
# A broadcast whose first BROADCAST_PAUSE_AFTER_MAILS (config) mails bounce (hard) above this
# rate stops until its organizer resumes it, as mailbox providers stop a sender whose mail keeps
# bouncing.
PAUSE_ABOVE_BOUNCE_RATE = 0.10
SOFT_BOUNCES_TO_SUPPRESS = 3
SOFT_BOUNCE_WINDOW = timedelta(days=7)
IDS_PER_QUERY = 900  # under SQLite's bound-parameter limit
_VERP_LOCAL = re.compile(r"bounces\+(d\d{1,18}|m)-([a-z2-7]{16})", re.IGNORECASE)
_LEDGER_KEY = re.compile(r"soonish-(\d+)")


class Source:
    """Where a bounce came in."""

    MAIL_IN = "mail-in"  # a DSN or feedback report mailed to the bounce domain
    SMTP = "smtp"  # our mail server's own 5xx at RCPT or DATA
    SES = "ses"
    POSTMARK = "postmark"
    MAILGUN = "mailgun"


def normalized(address: str) -> str:
    return address.strip().strip("<>").lower()


# Mailbox providers ------------------------------------------------------------------------

# The big mailbox providers by the domains their users' addresses have: each paces senders on
# its own (pacing budgets "mailbox:<provider>", SOONISH_BUDGET_MAILBOX_<PROVIDER>).
MAILBOX_PROVIDERS = {
    "gmail": {"gmail.com", "googlemail.com"},
    "microsoft": {"outlook.com", "hotmail.com", "live.com", "msn.com", "hotmail.co.uk", "hotmail.fr", "hotmail.de",
                  "outlook.fr", "outlook.de", "live.co.uk", "live.fr", "live.de"},
    "yahoo": {"yahoo.com", "ymail.com", "rocketmail.com", "aol.com", "yahoo.co.uk", "yahoo.fr", "yahoo.de",
              "yahoo.co.jp", "aim.com"},
    "icloud": {"icloud.com", "me.com", "mac.com"},
}
_PROVIDER_OF_DOMAIN = {domain: provider for provider, domains in MAILBOX_PROVIDERS.items() for domain in domains}


def mailbox_provider(address: str) -> str | None:
    """Which big provider keeps ``address``'s mailbox (by its domain); None for any other."""
    return _PROVIDER_OF_DOMAIN.get(address.rpartition("@")[2].strip().rstrip(">").lower())


# Return paths (VERP) ----------------------------------------------------------------------


def _signature(secret: str, ref: str, address: str) -> str:
    digest = hmac.new(secret.encode(), f"verp\0{ref}\0{normalized(address)}".encode(), hashlib.sha256).digest()
    return base64.b32encode(digest[:SIGNATURE_BYTES]).decode().lower()


def return_path(secret: str, bounce_domain: str, delivery_key: str, address: str) -> str:
    """The envelope sender of the mail with ``delivery_key`` to ``address``."""
    ledger = _LEDGER_KEY.fullmatch(delivery_key)
    ref = f"d{ledger.group(1)}" if ledger else ANY_MAIL_REF
    return f"{VERP_PREFIX}{ref}-{_signature(secret, ref, address)}@{bounce_domain}"


@dataclass(frozen=True)
class ReturnPath:
    """A return path as read back (not yet verified: see ``signed_for``)."""

    ref: str
    signature: str

    @property
    def delivery_id(self) -> int | None:
        return int(self.ref[1:]) if self.ref.startswith("d") else None


def read_return_path(address: str, bounce_domain: str) -> ReturnPath | None:
    """``address`` as one of our return paths; None when it is not one."""
    local, _, domain = normalized(address).rpartition("@")
    match = _VERP_LOCAL.fullmatch(local)
    if match is None or domain != bounce_domain.lower():
        return None
    return ReturnPath(match.group(1).lower(), match.group(2).lower())


def takes_mail_for(address: str, bounce_domain: str) -> bool:
    """Whether the bounce domain's listener takes mail for ``address``: a return path, or the
    feedback loops' address."""
    return (read_return_path(address, bounce_domain) is not None
            or normalized(address) == f"{FEEDBACK_LOCAL_PART}@{bounce_domain.lower()}")


def signed_for(secret: str, path: ReturnPath, address: str) -> bool:
    """Whether ``path`` was made for mail to ``address`` (a forged or altered one is not)."""
    return hmac.compare_digest(_signature(secret, path.ref, address), path.signature)


def delivery_address(delivery_id: int) -> str | None:
    """The address a ledger delivery mailed: the follower's own, an email channel's, or (a chat
    DM's fallback) the person's; None for a delivery that was no mail or whose recipient is gone."""
    delivery = db.session.get(Delivery, delivery_id)
    if delivery is None:
        return None
    if delivery.target.startswith("email:"):
        return delivery.target.removeprefix("email:")
    if delivery.target.startswith("integration:"):
        integration = db.session.get(Integration, int(delivery.target.removeprefix("integration:")))
        return integration.email_address if integration is not None else None
    if delivery.channel == "email":  # the fallback mail
        return delivery.subscription.user.email
    return None


# Bounces and the suppression list ---------------------------------------------------------


@dataclass(frozen=True)
class Bounce:
    """One bounce or complaint, from whichever door it came in."""

    address: str
    kind: BounceKind
    status: str
    reason: str  # for people: "mailbox does not exist (550 5.1.1 ...)"
    source: str
    delivery_id: int | None = None


@dataclass
class Recorded:
    """What recording bounces did. ``unfollowed``: the events whose follows a complaint ended,
    whose reminder schedules no longer count that person (``domain.outbox.reminders_changed``,
    written by the caller: the outbox's drain composes mail, so this module may not import it)."""

    bounces: int = 0
    suppressed: int = 0  # addresses newly suppressed
    unfollowed: list[Event] = field(default_factory=list)


def hear_refusals(replies: dict[int, str]) -> None:
    """Our mail server refused these deliveries' recipients with a 5xx at RCPT or DATA (delivery
    id -> its reply): bounces like any mailed back, recorded the same way. Commits (a refusal is
    never a complaint: no follows end)."""
    bounces = []
    for delivery_id, reply in replies.items():
        address = delivery_address(delivery_id)
        if address is None:
            continue
        status = first_status(reply) or reply[:3]
        bounces.append(Bounce(address, kind_of_status(status), status, reason_for(status, reply), Source.SMTP,
                              delivery_id))
    record(bounces)
    db.session.commit()


def take_report(report: BounceReport, recipients: list[str]) -> Recorded:
    """A report mailed to the bounce domain (``recipients``: the envelope's): record what it
    says about our mail. Its delivery is named by a return path (looked for in the envelope, then
    in the returned mail's quoted headers: feedback loops write to the address the provider
    registered), signed for the address it bounced: forged or altered paths match no address,
    and what they claim is ignored. Else by the delivery key the returned mail carried
    (Message-ID, X-Soonish-Delivery), counted only when the report names the very address that
    delivery went to: a key alone is a guessable number, and would let anyone suppress anyone.
    The caller commits."""
    secret, domain = current_app.config["SECRET_KEY"], current_app.config["BOUNCE_DOMAIN"]
    paths = [path for path in (read_return_path(a, domain) for a in [*recipients, *report.quoted_senders]) if path]
    keyed = [int(m.group(1)) for m in (_LEDGER_KEY.fullmatch(key) for key in report.quoted_keys) if m]
    bounces = []
    for returned in report.returned:
        found = _by_return_path(secret, paths, returned) or _by_delivery_key(keyed, returned)
        if found is not None:
            address, delivery_id = found
            bounces.append(Bounce(address, returned.kind, returned.status, returned.reason, Source.MAIL_IN,
                                  delivery_id))
    return record(bounces)


def _by_return_path(secret: str, paths: list[ReturnPath], returned: Returned) -> tuple[str, int | None] | None:
    for path in paths:
        # The address the delivery was sent to first (a forward's Final-Recipient differs),
        # then the one the report names (mail outside the ledger).
        sent_to = delivery_address(path.delivery_id) if path.delivery_id is not None else None
        address = next((a for a in (sent_to, returned.address) if a and signed_for(secret, path, a)), None)
        if address is not None:
            return address, path.delivery_id
    return None


def _by_delivery_key(delivery_ids: list[int], returned: Returned) -> tuple[str, int] | None:
    for delivery_id in delivery_ids:
        sent_to = delivery_address(delivery_id)
        if sent_to and returned.address and normalized(sent_to) == normalized(returned.address):
            return sent_to, delivery_id
    return None


def record_reported(bounces: list[Bounce]) -> Recorded:
    """Bounces a provider reported (its request verified): a delivery it names counts only if
    that delivery was mailed to the address it bounced. The caller commits."""
    def checked(bounce: Bounce) -> Bounce:
        if bounce.delivery_id is None:
            return bounce
        sent_to = delivery_address(bounce.delivery_id)
        same = sent_to is not None and normalized(sent_to) == normalized(bounce.address)
        return bounce if same else Bounce(bounce.address, bounce.kind, bounce.status, bounce.reason, bounce.source)

    return record([checked(b) for b in bounces])


@functools.lru_cache(maxsize=4)
def _fingerprint_key(secret: str) -> bytes:
    return hashlib.sha256(f"suppression-list\0{secret}".encode()).digest()


def address_key(address: str) -> str:
    """The address as the suppression list keeps it: a keyed fingerprint (HMAC-SHA256), which
    reads as nothing without the secret. Computed for every planned mail (2 µs; a signer's tag
    derived its key on each call, 60 µs, 0.6 s of a 10,000-mail broadcast)."""
    key = _fingerprint_key(current_app.config["SECRET_KEY"])
    return hmac.new(key, normalized(address).encode(), hashlib.sha256).hexdigest()


def _day(moment: datetime) -> str:
    return f"{moment.day} {moment:%b}"


def _suppression_reason(bounce: Bounce, now: datetime) -> str:
    if bounce.kind == BounceKind.COMPLAINT:
        text = f"this address reported our mail as spam on {_day(now)}"
    elif bounce.kind == BounceKind.SOFT:
        text = (f"this address bounced {SOFT_BOUNCES_TO_SUPPRESS} times in {SOFT_BOUNCE_WINDOW.days} days "
                f"(last on {_day(now)}: {bounce.reason})")
    else:
        text = f"this address bounced on {_day(now)}: {bounce.reason}"
    return text[:REASON_MAX]


def record(bounces: list[Bounce]) -> Recorded:
    """Record bounces and complaints and apply their rules, in the caller's transaction. A bounce
    naming a delivery marks it failed with why (it was sent, and it did not arrive)."""
    recorded = Recorded(bounces=len(bounces))
    if not bounces:
        return recorded
    now = utcnow()
    ids = {b.delivery_id for b in bounces if b.delivery_id is not None}
    deliveries = {
        d.id: d for d in db.session.scalars(
            select(Delivery).where(Delivery.id.in_(ids))
            .options(joinedload(Delivery.notification).joinedload(Notification.event))
        )
    } if ids else {}
    for bounce in bounces:
        delivery = deliveries.get(bounce.delivery_id)
        organizer_id = delivery.notification.event.organizer_id if delivery is not None else None
        tag = address_key(bounce.address)
        db.session.add(MailBounce(
            address_tag=tag, kind=bounce.kind, status=bounce.status[:16], reason=bounce.reason[:REASON_MAX],
            source=bounce.source, delivery_id=delivery.id if delivery else None,
            notification_id=delivery.notification_id if delivery else None, organizer_id=organizer_id,
            received_at=now,
        ))
        if delivery is not None:
            what = "reported as spam" if bounce.kind == BounceKind.COMPLAINT else f"bounced: {bounce.reason}"
            if bounce.kind != BounceKind.COMPLAINT:
                delivery.status = DeliveryStatus.FAILED
            delivery.last_error = what[:500]
        newly = _suppress(tag, bounce, now) if _suppresses(bounce, tag, now) else 0
        recorded.suppressed += newly
        record_bounce(bounce.kind.value, bounce.source, bool(newly))
        if bounce.kind == BounceKind.COMPLAINT and organizer_id is not None:
            recorded.unfollowed += _end_follows(bounce.address, organizer_id)
    return recorded


def _suppresses(bounce: Bounce, tag: str, now: datetime) -> bool:
    if bounce.kind != BounceKind.SOFT:
        return True
    recent = db.session.scalar(
        select(func.count()).select_from(MailBounce).where(
            MailBounce.address_tag == tag, MailBounce.kind == BounceKind.SOFT,
            MailBounce.received_at > now - SOFT_BOUNCE_WINDOW,
        )
    )
    return recent >= SOFT_BOUNCES_TO_SUPPRESS


def _suppress(tag: str, bounce: Bounce, now: datetime) -> int:
    """One row per address: the first reason stands (a second bounce changes nothing), and two
    bounces recorded at once don't both insert (the unique tag decides)."""
    inserted = db.session.execute(insert_ignoring_duplicates(SuppressedAddress.__table__).values(
        address_tag=tag, masked=mask_address(normalized(bounce.address)) or "",
        kind=bounce.kind.value, reason=_suppression_reason(bounce, now), suppressed_at=now,
    ).returning(SuppressedAddress.__table__.c.id)).all()
    return len(inserted)


def _end_follows(address: str, organizer_id: int) -> list[Event]:
    """A complaint: the person follows none of that organizer's events any more. Returns the
    events whose follows ended."""
    user = db.session.scalar(select(User).where(func.lower(User.email) == normalized(address)))
    if user is None:
        return []
    events = select(Event.id).where(Event.organizer_id == organizer_id)
    ended = db.session.execute(
        update(Subscription)
        .where(Subscription.user_id == user.id, Subscription.event_id.in_(events),
               Subscription.status != SubscriptionStatus.UNSUBSCRIBED)
        .values(status=SubscriptionStatus.UNSUBSCRIBED)
        .returning(Subscription.event_id)
    ).scalars().all()
    return list(db.session.scalars(select(Event).where(Event.id.in_(set(ended))))) if ended else []


def suppressed(addresses: Iterable[str]) -> dict[str, str]:
    """Of ``addresses``, those on the suppression list, each with why (for people)."""
    by_tag: dict[str, list[str]] = {}
    for address in set(addresses):
        by_tag.setdefault(address_key(address), []).append(address)
    tags = list(by_tag)
    found: dict[str, str] = {}
    for start in range(0, len(tags), IDS_PER_QUERY):
        for tag, reason in db.session.execute(
            select(SuppressedAddress.address_tag, SuppressedAddress.reason)
            .where(SuppressedAddress.address_tag.in_(tags[start : start + IDS_PER_QUERY]))
        ):
            for address in by_tag[tag]:
                found[address] = reason
    return found


def suppression_of(address: str) -> SuppressedAddress | None:
    return db.session.scalar(select(SuppressedAddress).where(SuppressedAddress.address_tag == address_key(address)))


def suppression_mark(entry: SuppressedAddress) -> str:
    """What names one suppression of an address, for a link to carry: its id and when it began
    (SQLite hands a deleted row's id to the next row, so an id alone may name a later one)."""
    return f"{entry.id}@{entry.suppressed_at.isoformat()}"


def lift(address: str, mark: str) -> bool:
    """The owner showed the address works (they confirmed a link mailed to it): mail it again.
    Only the suppression the link was made for goes (``mark``, ``suppression_mark``): a link
    works once, and not for a suppression that came after it. Its bounce history stays, so three
    more soft bounces suppress it again. The caller commits."""
    entry = suppression_of(address)
    if entry is None or suppression_mark(entry) != mark:
        return False
    result = db.session.execute(SuppressedAddress.__table__.delete().where(
        SuppressedAddress.id == entry.id, SuppressedAddress.address_tag == entry.address_tag))
    return bool(result.rowcount)


# A broadcast's bounce rate ---------------------------------------------------------------------


class Standing:
    """What a broadcast's first sends said (``judge_broadcast``)."""

    UNDECIDED = "undecided"  # fewer than BROADCAST_PAUSE_AFTER_MAILS mails so far
    CLEAR = "clear"  # its first mails bounced at an acceptable rate: it goes on, unjudged from now
    PAUSED_NOW = "paused now"  # this call paused it: tell the organizer
    PAUSED = "paused"  # paused already, or resumed (a resumed broadcast is not judged again)


def judge_broadcast(notification_id: int) -> str:
    """Pause the broadcast if its first ``BROADCAST_PAUSE_AFTER_MAILS`` mails bounced above the rate.
    Conditional update: of two workers judging at once, one pauses it (and tells). Commits."""
    notification = db.session.get(Notification, notification_id)
    if notification is None or notification.paused_at is not None or notification.resumed_at is not None:
        return Standing.PAUSED
    bounced, mailed = bounce_rate(notification_id)
    if mailed < current_app.config["BROADCAST_PAUSE_AFTER_MAILS"]:
        return Standing.UNDECIDED
    if bounced <= PAUSE_ABOVE_BOUNCE_RATE * mailed:
        return Standing.CLEAR
    paused = db.session.execute(
        update(Notification).where(Notification.id == notification_id, Notification.paused_at.is_(None),
                                   Notification.resumed_at.is_(None)).values(paused_at=utcnow())
    ).rowcount
    db.session.commit()
    return Standing.PAUSED_NOW if paused else Standing.PAUSED


def paused_among(notification_ids: Iterable[int]) -> set[int]:
    ids = list(set(notification_ids))
    if not ids:
        return set()
    return set(db.session.scalars(select(Notification.id).where(
        Notification.id.in_(ids), Notification.paused_at.is_not(None))))


def bounce_rate(notification_id: int) -> tuple[int, int]:
    """(hard bounces, mails sent or failed) of a broadcast so far."""
    mailed = db.session.scalar(select(func.count()).select_from(Delivery).where(
        Delivery.notification_id == notification_id, Delivery.channel == "email",
        Delivery.status.in_([DeliveryStatus.SENT, DeliveryStatus.FAILED])))
    bounced = db.session.scalar(select(func.count()).select_from(MailBounce).where(
        MailBounce.notification_id == notification_id, MailBounce.kind == BounceKind.HARD))
    return bounced, mailed


# The sender's standing ---------------------------------------------------------------------

# How far back an organizer's rates look: long enough that one broadcast's bad day shows and
# stays a while, as mailbox providers remember a sender (Gmail's Postmaster Tools shows 30 days).
STANDING_WINDOW = timedelta(days=30)
# Where each rate starts to hurt everyone's mail: Gmail and Yahoo's bulk-sender rule keeps spam
# complaints under 0.3%; Amazon SES puts an account under review at a 5% bounce rate.
COMPLAINT_RATE_LIMIT = 0.003
BOUNCE_RATE_LIMIT = 0.05


@dataclass(frozen=True)
class SenderStanding:
    """Mail sent over ``STANDING_WINDOW`` and how it was answered: hard bounces and complaints."""

    mailed: int = 0
    bounced: int = 0
    complaints: int = 0

    @property
    def bounce_rate(self) -> float:
        return self.bounced / self.mailed if self.mailed else 0.0

    @property
    def complaint_rate(self) -> float:
        return self.complaints / self.mailed if self.mailed else 0.0

    bounce_rate_limit = BOUNCE_RATE_LIMIT
    complaint_rate_limit = COMPLAINT_RATE_LIMIT

    @property
    def strain(self) -> float:
        """How near its nearer limit it is (1.0: at a limit)."""
        return max(self.bounce_rate / BOUNCE_RATE_LIMIT, self.complaint_rate / COMPLAINT_RATE_LIMIT)

    @property
    def at_risk(self) -> bool:
        return self.strain > 1.0


def standings(now: datetime, organizer_id: int | None = None) -> dict[int, SenderStanding]:
    """Each organizer's standing (one organizer's, given ``organizer_id``): the mail of their
    events' notifications made in the window (sent or failed: what reached a mail server), the
    hard bounces and complaints that came back in it. Two grouped queries."""
    since = now - STANDING_WINDOW
    mailed_query = (
        select(Event.organizer_id, func.count())
        .select_from(Delivery).join(Notification, Notification.id == Delivery.notification_id)
        .join(Event, Event.id == Notification.event_id)
        .where(Notification.created_at >= since, Delivery.channel == "email",
               Delivery.status.in_([DeliveryStatus.SENT, DeliveryStatus.FAILED]), Event.organizer_id.is_not(None))
        .group_by(Event.organizer_id)
    )
    answered_query = (
        select(MailBounce.organizer_id, MailBounce.kind, func.count())
        .where(MailBounce.received_at >= since, MailBounce.organizer_id.is_not(None),
               MailBounce.kind.in_([BounceKind.HARD, BounceKind.COMPLAINT]))
        .group_by(MailBounce.organizer_id, MailBounce.kind)
    )
    if organizer_id is not None:
        mailed_query = mailed_query.where(Event.organizer_id == organizer_id)
        answered_query = answered_query.where(MailBounce.organizer_id == organizer_id)
    counts: dict[int, dict[str, int]] = {}
    for organizer, mailed in db.session.execute(mailed_query):
        counts.setdefault(organizer, {})["mailed"] = mailed
    for organizer, kind, answered in db.session.execute(answered_query):
        counts.setdefault(organizer, {})["bounced" if kind == BounceKind.HARD else "complaints"] = answered
    return {organizer: SenderStanding(**fields) for organizer, fields in counts.items()}


def overall(by_organizer: Iterable[SenderStanding]) -> SenderStanding:
    """Everyone's mail together (the ledger's; one-off mails such as confirm links are not in it)."""
    mailed = bounced = complaints = 0
    for standing in by_organizer:
        mailed, bounced, complaints = (mailed + standing.mailed, bounced + standing.bounced,
                                       complaints + standing.complaints)
    return SenderStanding(mailed, bounced, complaints)
