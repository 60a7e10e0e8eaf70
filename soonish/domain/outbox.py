"""The outbox (models/outbox.py): THE way to cause an effect after a commit.

Writing: an operation leaves typed rows in its own transaction (``confirm_mail``, ``one_off_mail``,
``notify``, ``reminders_changed``, ``event_created``/``updated``/``cancelled``, ``webhook_message``,
``waitlist_offer``, ``community_event_created``) and commits once. The web tier never waits on Temporal or the mail server: the
worker's drain acts on the rows within a poll interval (OUTBOX_POLL_SECONDS) and marks them done.
Nothing is lost when Temporal or the mail server is away: the rows wait and are retried.

Draining, in the database alone: claim pending rows under a lease, compose their mails, record
what was done. The worker's drain (soonish/temporal/outbox/drain.py) is the thin adapter that
sends, starts and signals."""
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import insert, or_, select, update
from sqlalchemy.orm import joinedload

from soonish.domain import mail_reputation
from soonish.models import Event, Notification, OutboxItem, OutboxKind, Subscription, db, utcnow
from soonish.domain.delivery.mail import OneOffKind, OneOffMail
from soonish.domain.delivery.mail import one_off_mail as compose_one_off_mail

log = logging.getLogger(__name__)

CLAIM_BATCH = 500
LEASE = timedelta(seconds=60)
MAX_BACKOFF = timedelta(minutes=2)


def reminders_changed(event: Event) -> None:
    """Leave a row telling the event's workflow its subscriptions changed (it starts the workflow
    if it isn't running); a burst of follows costs one signal per drain round, not one per follow."""
    db.session.add(OutboxItem(kind=OutboxKind.REMINDERS_CHANGED, event_id=event.id, subject_id=event.id))


def confirm_mail(subscription: Subscription, just_made: bool = False) -> bool:
    """Leave a confirm mail for ``subscription`` unless one was left for it within the repeat
    window (someone pressing Follow twice, or a form resubmitted, gets one mail); a subscription
    ``just_made`` has had none. Returns whether a mail was left."""
    window = timedelta(seconds=int(current_app.config["CONFIRM_MAIL_REPEAT_WINDOW"]))
    if not just_made:
        recent = db.session.scalar(
            select(OutboxItem.id).where(
                OutboxItem.kind == OutboxKind.CONFIRM_MAIL,
                OutboxItem.subject_id == subscription.id,
                OutboxItem.created_at > utcnow() - window,
            ).limit(1)
        )
        if recent is not None:
            return False
    # A plain INSERT rather than one more object for the commit to flush: a follow is the web
    # tier's hottest write, and a second unit-of-work flush cost it about a tenth of its time.
    db.session.execute(insert(OutboxItem.__table__).values(
        kind=OutboxKind.CONFIRM_MAIL, event_id=subscription.event_id, subject_id=subscription.id))
    return True


def resume(event: Event, notification: Notification) -> None:
    """Hand a paused broadcast its organizer resumed back to the event's workflow after commit."""
    db.session.add(OutboxItem(kind=OutboxKind.RESUME, event_id=event.id, subject_id=notification.id))


def notify(event: Event, notification: Notification) -> None:
    """Hand ``notification`` (recorded in this transaction) to the event's workflow after commit."""
    db.session.add(OutboxItem(kind=OutboxKind.NOTIFY, event_id=event.id, subject_id=notification.id))


def one_off_mail(kind: str, subject_id: int, address: str | None = None, **details: str) -> None:
    """Mail a one-off mail (delivery.mail.OneOffKind) about ``subject_id`` after commit;
    ``address`` only for one no table holds, ``details`` what else none holds any more (both
    cleared once the mail is sent)."""
    db.session.add(OutboxItem(kind=OutboxKind.ONE_OFF_MAIL, subject_id=subject_id,
                              payload={"mail": kind, "address": address, **details}))


def event_created(event: Event) -> None:
    """Start the new event's workflow after commit (``event.id`` must be flushed)."""
    db.session.add(OutboxItem(kind=OutboxKind.EVENT_CREATED, event_id=event.id, subject_id=event.id))


def event_changed(event: Event, notification: Notification | None, cancelled: bool = False) -> None:
    """Tell the event's workflow its new version (and the notice to its followers, if any)."""
    db.session.add(OutboxItem(kind=OutboxKind.EVENT_CANCELLED if cancelled else OutboxKind.EVENT_UPDATED,
                              event_id=event.id, subject_id=notification.id if notification else 0))


def community_event_created(event: Event, not_before: datetime) -> None:
    """Tell the followers of ``event``'s community of it (domain/community_follows.py), not
    before ``not_before``: the row counts as claimed until then, so no drain takes it sooner."""
    db.session.add(OutboxItem(kind=OutboxKind.COMMUNITY_EVENT_CREATED, event_id=event.id, subject_id=event.id,
                              claimed_until=not_before))


def webhook_message(message_id: int) -> None:
    """Start the delivery of an outgoing webhook message (flushed in this transaction)."""
    db.session.add(OutboxItem(kind=OutboxKind.WEBHOOK_MESSAGE, subject_id=message_id))


def waitlist_offer(event: Event, rsvp_id: int, expires_at: datetime) -> None:
    """Start a waitlist offer's workflow (it tells the person and times the offer)."""
    db.session.add(OutboxItem(kind=OutboxKind.WAITLIST_OFFER, event_id=event.id, subject_id=rsvp_id,
                              payload={"expires_at": expires_at.isoformat()}))


MAILS = (OutboxKind.CONFIRM_MAIL, OutboxKind.ONE_OFF_MAIL)
EVENT_WORKFLOW = (OutboxKind.NOTIFY, OutboxKind.REMINDERS_CHANGED, OutboxKind.EVENT_CREATED,
                  OutboxKind.EVENT_UPDATED, OutboxKind.EVENT_CANCELLED, OutboxKind.RESUME)


@dataclass(frozen=True)
class Claimed:
    id: int
    kind: OutboxKind
    event_id: int | None
    subject_id: int
    attempts: int  # including this one
    payload: dict | None = None


@dataclass
class Outcome:
    item: Claimed
    error: str | None = None
    permanent: bool = False


def claim(limit: int = CLAIM_BATCH, lease: timedelta = LEASE) -> list[Claimed]:
    """Claim up to ``limit`` pending rows for ``lease`` (FOR UPDATE SKIP LOCKED on PostgreSQL, so
    several drains share the work; SQLite's single writer makes the claim atomic by itself)."""
    now = utcnow()
    pending = (
        select(OutboxItem.id)
        .where(OutboxItem.done_at.is_(None),
               or_(OutboxItem.claimed_until.is_(None), OutboxItem.claimed_until < now))
        .order_by(OutboxItem.id)
        .limit(limit)
    )
    if db.engine.dialect.name == "postgresql":
        pending = pending.with_for_update(skip_locked=True)
    rows = db.session.execute(
        update(OutboxItem)
        .where(OutboxItem.id.in_(pending))
        .values(claimed_until=now + lease, attempts=OutboxItem.attempts + 1)
        .returning(OutboxItem.id, OutboxItem.kind, OutboxItem.event_id, OutboxItem.subject_id,
                   OutboxItem.attempts, OutboxItem.payload)
        .execution_options(synchronize_session=False)
    ).all()
    db.session.commit()
    return sorted((Claimed(*row) for row in rows), key=lambda item: item.id)


def record(outcomes: list[Outcome], max_attempts: int) -> None:
    """Mark done what was done; back off (or give up on) what failed, giving up after
    ``max_attempts`` (the delivery retry policy's)."""
    now = utcnow()
    done = [o.item.id for o in outcomes if o.error is None]
    if done:
        db.session.execute(
            # The payload goes with the work: a one-off mail's address is not kept once it is sent.
            update(OutboxItem).where(OutboxItem.id.in_(done)).values(done_at=now, last_error=None, payload=None)
            .execution_options(synchronize_session=False)
        )
    for outcome in outcomes:
        if outcome.error is None:
            continue
        item = outcome.item
        gave_up = outcome.permanent or item.attempts >= max_attempts
        # Back off as the delivery retries do: 2, 4, 8 … seconds, at most two minutes.
        retry_at = now + min(timedelta(seconds=2 ** item.attempts), MAX_BACKOFF)
        db.session.execute(
            update(OutboxItem).where(OutboxItem.id == item.id)
            .values(done_at=now if gave_up else None, claimed_until=retry_at, last_error=outcome.error[:500],
                    **({"payload": None} if gave_up else {}))
            .execution_options(synchronize_session=False)
        )
        log.warning("outbox %s %s: %s", item.kind.value, "gave up" if gave_up else "will retry",
                    outcome.error, extra={"outbox_id": item.id, "event_id": item.event_id})
    db.session.commit()


def mails(items: list[Claimed]) -> list[tuple[Claimed, OneOffMail | None]]:
    """The mails of claimed confirm and one-off mail rows; None where there is nothing to mail
    any more (confirmed, left or gone meanwhile)."""
    # The group's subscriptions, events and addresses in one query, not three per confirm mail
    # (the one-off mail then finds them in the session).
    loaded = db.session.scalars(  # noqa: F841 (held so the session keeps them)
        select(Subscription).where(Subscription.id.in_(
            [item.subject_id for item in items if item.kind == OutboxKind.CONFIRM_MAIL]))
        .options(joinedload(Subscription.event), joinedload(Subscription.user))
    ).all()
    # Keyed by the outbox row (soonish-confirm-<subscription>-outbox-<row>): a resend after a
    # crash carries the same key.
    mails = [(item, _mail_of(item)) for item in items]
    # Confirm links never go to a suppressed address; account mails a person asked for (a reset,
    # a verification) still do.
    stopped = mail_reputation.suppressed(
        mail.address for item, mail in mails if mail is not None and item.kind == OutboxKind.CONFIRM_MAIL)
    return [(item, None if mail is not None and item.kind == OutboxKind.CONFIRM_MAIL and mail.address in stopped else mail)
            for item, mail in mails]


def _mail_of(item: Claimed) -> OneOffMail | None:
    key = f"outbox-{item.id}"
    if item.kind == OutboxKind.CONFIRM_MAIL:
        return compose_one_off_mail(OneOffKind.CONFIRM, item.subject_id, None, key)
    details = {name: value for name, value in item.payload.items() if name not in ("mail", "address")}
    return compose_one_off_mail(item.payload["mail"], item.subject_id, item.payload.get("address"), key, **details)


def events(event_ids: list[int]) -> list[Event]:
    """The events of claimed rows; events gone are left out."""
    return list(db.session.scalars(select(Event).where(Event.id.in_(event_ids))))
