"""The follow outbox (models/outbox.py): THE way to cause an effect after a commit.

Writing: a follow, an announcement or a change leaves typed rows in the caller's own transaction
(``reminders_changed``, ``confirm_mail``, ``notify``). The web tier never waits on Temporal or the
mail server to answer a follow: it commits the subscription with these rows, and the worker's
drain does the rest within a second or so.

Draining, in the database alone: claim pending rows under a lease, compose their confirm mails,
record what was done. The worker's drain (soonish/temporal/outbox/drain.py) is the thin adapter that
sends and signals."""
import logging
from dataclasses import dataclass
from datetime import timedelta

from flask import current_app
from sqlalchemy import insert, or_, select, update
from sqlalchemy.orm import joinedload

from soonish.models import Event, Notification, OutboxItem, OutboxKind, Subscription, db, utcnow
from soonish.domain.delivery.mail import OneOffKind, OneOffMail, one_off_mail

log = logging.getLogger(__name__)

CLAIM_BATCH = 500
LEASE = timedelta(seconds=60)
MAX_BACKOFF = timedelta(minutes=2)


def reminders_changed(event: Event) -> None:
    """Leave a row telling the event's workflow its subscriptions changed (it starts the workflow
    if it isn't running); a burst of follows costs one signal per drain round, not one per follow."""
    db.session.add(OutboxItem(kind=OutboxKind.REMINDERS_CHANGED, event_id=event.id, subject_id=event.id))


def confirm_mail(subscription: Subscription) -> bool:
    """Leave a confirm mail for ``subscription`` unless one was left for it within the repeat
    window (someone pressing Follow twice, or a form resubmitted, gets one mail). Returns whether
    a mail was left."""
    window = timedelta(seconds=int(current_app.config["CONFIRM_MAIL_REPEAT_WINDOW"]))
    if subscription.id is not None:
        recent = db.session.scalar(
            select(OutboxItem.id).where(
                OutboxItem.kind == OutboxKind.CONFIRM_MAIL,
                OutboxItem.subject_id == subscription.id,
                OutboxItem.created_at > utcnow() - window,
            ).limit(1)
        )
        if recent is not None:
            return False
    else:
        db.session.flush()
    # A plain INSERT rather than one more object for the commit to flush: a follow is the web
    # tier's hottest write, and a second unit-of-work flush cost it about a tenth of its time.
    db.session.execute(insert(OutboxItem.__table__).values(
        kind=OutboxKind.CONFIRM_MAIL, event_id=subscription.event_id, subject_id=subscription.id))
    return True


def notify(event: Event, notification: Notification) -> None:
    """Hand ``notification`` (recorded in this transaction) to the event's workflow after commit."""
    db.session.add(OutboxItem(kind=OutboxKind.NOTIFY, event_id=event.id, subject_id=notification.id))


@dataclass(frozen=True)
class Claimed:
    id: int
    kind: OutboxKind
    event_id: int
    subject_id: int
    attempts: int  # including this one


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
                   OutboxItem.attempts)
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
            update(OutboxItem).where(OutboxItem.id.in_(done)).values(done_at=now, last_error=None)
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
            .values(done_at=now if gave_up else None, claimed_until=retry_at, last_error=outcome.error[:500])
            .execution_options(synchronize_session=False)
        )
        log.warning("outbox %s %s: %s", item.kind.value, "gave up" if gave_up else "will retry",
                    outcome.error, extra={"outbox_id": item.id, "event_id": item.event_id})
    db.session.commit()


def confirm_mails(items: list[Claimed]) -> list[tuple[Claimed, OneOffMail | None]]:
    """The confirm mails of claimed rows; None where there is nothing to mail any more
    (confirmed, left or gone meanwhile)."""
    # The group's subscriptions, events and addresses in one query, not three per mail (the
    # one-off mail then finds them in the session).
    loaded = db.session.scalars(  # noqa: F841 (held so the session keeps them)
        select(Subscription).where(Subscription.id.in_([item.subject_id for item in items]))
        .options(joinedload(Subscription.event), joinedload(Subscription.user))
    ).all()
    # Keyed by the outbox row (soonish-confirm-<subscription>-outbox-<row>): a resend after a
    # crash carries the same key.
    return [(item, one_off_mail(OneOffKind.CONFIRM, item.subject_id, None, f"outbox-{item.id}")) for item in items]


def events(event_ids: list[int]) -> list[Event]:
    """The events of claimed rows; events gone are left out."""
    return list(db.session.scalars(select(Event).where(Event.id.in_(event_ids))))
