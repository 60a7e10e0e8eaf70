"""The deliveries ledger: one row per (notification, subscription, target), claimed before a
send and recorded after it, so a retried or rerun batch skips what is already sent and every
send happens once. Runs inside the app context."""
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import case, or_, select, update

from soonish.domain import mail_reputation
from soonish.models import Delivery, DeliveryStatus, Notification, db, insert_ignoring_duplicates, utcnow
from soonish.models.notification import WAITING_FOR_MAX
from soonish.observability import record_delivery
from soonish.domain.delivery.outcomes import redacted_reason
from soonish.domain.delivery.transports import Failed, Outcome, RetryAfter, Sent

log = logging.getLogger(__name__)

# What a recorded failure keeps of its reason (the column's size).
LAST_ERROR_MAX = 500
# A ledger row whose recipient was erased: its target is this and a keyed hash of the address.
ERASED_TARGET_PREFIX = "erased:"


# The statements every group of sends makes (its hold, its record) are Core ones: the ORM's
# bulk UPDATE path added about 0.3 ms of CPU to each, a sixth of the statement (in-process, PostgreSQL).
_DELIVERIES = Delivery.__table__


def delivery_key(delivery_id: int) -> str:
    """The stable key a receiver can drop a repeat by (Idempotency-Key, Message-ID, nonce)."""
    return f"soonish-{delivery_id}"


@dataclass(frozen=True)
class LedgerRow:
    """A delivery as the ledger holds it (plain values: a batch reads hundreds, changes few)."""

    id: int
    subscription_id: int
    target: str
    status: DeliveryStatus


# A group of sends holds its rows while it is in flight (``hold_for_sending``, renewed every
# SEND_HOLD / 3 while the group runs): a newer attempt of the batch takes none of them before
# the hold lapses. Temporal hands a batch to a new attempt when heartbeats stop reaching it for
# 2 s (delivery/types.BATCH_HEARTBEAT_TIMEOUT), which a live worker on a busy box or behind a
# lagging server also meets: without the hold, the group it was sending went out twice (CI saw a
# group of 49 mails repeated). The database hears the renewals whatever Temporal hears. Short,
# so a dead worker's group in flight is retried a few seconds after the rest of its batch.
SEND_HOLD = timedelta(seconds=5)


@dataclass(frozen=True)
class Claim:
    """What a batch attempt claimed: its rows, and how many pending ones an older attempt still
    holds (its group in flight): this attempt retries those once the hold is over."""

    rows: list[LedgerRow]
    held_elsewhere: int = 0


def fence_of(attempt_scheduled: datetime) -> int:
    """A batch attempt's fence: when Temporal scheduled it, in microseconds. A newer attempt of
    the same batch (a retry, or a takeover after missed heartbeats) has a larger one."""
    return int(attempt_scheduled.timestamp() * 1_000_000)


def claim(notification_id: int, targets: list[tuple[int, str, str]], first_id: int, last_id: int,
          fence: int | None = None) -> Claim:
    """Write a row per (subscription id, target key, channel) not written yet, and return
    every row of this notification for subscriptions ``first_id``..``last_id``. With a
    ``fence`` (the claiming attempt's), its pending rows are fenced to it, except those a newer
    attempt took or an older one is sending: they are left out, for this attempt must not send
    them (the older attempt's are counted, to be tried again)."""
    rows = [
        {"notification_id": notification_id, "subscription_id": sub_id, "target": key, "channel": channel, "fence": fence}
        for sub_id, key, channel in targets
    ]
    if rows:
        db.session.execute(insert_ignoring_duplicates(Delivery.__table__), rows)
    in_range = (Delivery.notification_id == notification_id, Delivery.subscription_id.between(first_id, last_id))
    if fence is not None:
        db.session.execute(
            update(Delivery).where(*in_range, Delivery.status == DeliveryStatus.PENDING,
                                   or_(Delivery.fence.is_(None), Delivery.fence < fence),
                                   or_(Delivery.sending_until.is_(None), Delivery.sending_until < utcnow()))
            .values(fence=fence)
        )
    claimed, held_elsewhere = [], 0
    for row_id, subscription_id, target, status, row_fence in db.session.execute(
        select(Delivery.id, Delivery.subscription_id, Delivery.target, Delivery.status, Delivery.fence).where(*in_range)
    ):
        if fence is None or status != DeliveryStatus.PENDING or row_fence == fence:
            claimed.append(LedgerRow(row_id, subscription_id, target, status))
        elif row_fence < fence:
            held_elsewhere += 1
    return Claim(claimed, held_elsewhere)


def hold_for_sending(delivery_ids: list[int], fence: int, renewing: bool = False) -> set[int]:
    """Which of ``delivery_ids`` this attempt (``fence``) may send now: those pending and still
    fenced to it (a newer attempt may have taken the others since it claimed them). They are
    held for SEND_HOLD; ``renewing``, only those still held (recorded sends, and failures left
    for a retry, are held no more). Commits."""
    ids = _hold(delivery_ids, fence, renewing)
    db.session.commit()
    return ids


def _hold(delivery_ids: list[int], fence: int, renewing: bool = False) -> set[int]:
    rows = _DELIVERIES.c
    held = rows.sending_until.is_not(None) if renewing else True
    return set(db.session.execute(
        _DELIVERIES.update()
        .where(rows.id.in_(delivery_ids), rows.status == DeliveryStatus.PENDING, rows.fence == fence, held)
        .values(sending_until=utcnow() + SEND_HOLD)
        .returning(rows.id)
    ).scalars())


def mark_skipped(delivery_ids: list[int]) -> None:
    """Unsubscribed, or the channel was removed, since these rows were written."""
    if delivery_ids:
        db.session.execute(
            update(Delivery).where(Delivery.id.in_(delivery_ids)).values(status=DeliveryStatus.SKIPPED)
        )


def mark_suppressed(reasons: dict[int, str]) -> None:
    """Not sent: the address is on the suppression list (``reasons``: delivery id -> why)."""
    for delivery_id, reason in reasons.items():
        db.session.execute(
            update(Delivery).where(Delivery.id == delivery_id)
            .values(status=DeliveryStatus.SUPPRESSED, last_error=reason[:LAST_ERROR_MAX])
        )


def mark_settled(notification_id: int) -> None:
    """Every batch of the notification has run (its retries included): from now on, no delivery
    rows means it found nobody to send to. Commits; running it again changes nothing."""
    db.session.execute(
        update(Notification).where(Notification.id == notification_id, Notification.settled_at.is_(None))
        .values(settled_at=utcnow())
    )
    db.session.commit()


@dataclass
class SendOutcome:
    delivery_id: int
    channel: str
    outcome: Outcome
    waits: int = 0  # times the send waited for its destination's rate limit
    waited_seconds: float = 0.0

    @property
    def sent(self) -> bool:
        return isinstance(self.outcome, Sent)

    def gave_up(self, final_attempt: bool) -> bool:
        """A failure that stays failed: permanent, or out of attempts."""
        return not self.sent and (final_attempt or (isinstance(self.outcome, Failed) and self.outcome.permanent))

    @property
    def reason(self) -> str:
        if isinstance(self.outcome, RetryAfter):
            return f"{self.outcome.reason} (retry after {self.outcome.seconds:g}s)"
        return getattr(self.outcome, "reason", "")


def mark_waiting(delivery_id: int, waiting_for: str, until: datetime) -> None:
    """A send has begun a long wait for ``waiting_for``'s rate limit: the organizer sees it."""
    db.session.execute(
        update(Delivery).where(Delivery.id == delivery_id)
        .values(waiting_for=waiting_for[:WAITING_FOR_MAX], waiting_until=until)
    )
    db.session.commit()


def _kept_reason(reason: str):
    """What a failed send's row keeps as its reason. A send still in flight when its recipient
    was erased records after the erasure redacted their rows: its tombstoned target says so, and
    the reason is redacted too (decided by the row the UPDATE finds, so no race is left)."""
    return case((Delivery.target.startswith(ERASED_TARGET_PREFIX), redacted_reason(reason)[:LAST_ERROR_MAX]),
                else_=reason[:LAST_ERROR_MAX])


def record(outcomes: list[SendOutcome], final_attempt: bool, hold_next: Sequence[int] = (), fence: int = 0) -> set[int]:
    """Record a group of sends: sent, failed for good, or pending again (to be retried). With
    ``hold_next``, the next group of the same attempt (``fence``) is held in the same
    transaction, as ``hold_for_sending`` would (which of them it may send is returned): on
    SQLite each write waits for its turn, and a group then takes one turn instead of two."""
    now = utcnow()
    # Recorded, a send waits no more and its group holds it no more (a failure to retry is
    # anyone's to try again).
    released = {"waiting_for": None, "waiting_until": None, "sending_until": None}
    sent = [o.delivery_id for o in outcomes if o.sent and not o.waits]
    if sent:
        db.session.execute(
            _DELIVERIES.update()
            # A bounce can come back before its send is recorded (a relay's DSN within the
            # second): the failure it recorded stands.
            .where(_DELIVERIES.c.id.in_(sent), _DELIVERIES.c.status == DeliveryStatus.PENDING)
            .values(status=DeliveryStatus.SENT, sent_at=now, attempts=_DELIVERIES.c.attempts + 1, last_error=None,
                    **released)
        )
    for outcome in outcomes:
        if outcome.sent and not outcome.waits:
            continue
        if outcome.sent:
            values = dict(status=case((Delivery.status == DeliveryStatus.PENDING, DeliveryStatus.SENT.value),
                                      else_=Delivery.status), sent_at=now,
                          last_error=case((Delivery.status == DeliveryStatus.PENDING, None), else_=Delivery.last_error))
        else:
            status = DeliveryStatus.FAILED if outcome.gave_up(final_attempt) else DeliveryStatus.PENDING
            values = dict(status=status, last_error=_kept_reason(outcome.reason))
        db.session.execute(
            update(Delivery)
            .where(Delivery.id == outcome.delivery_id)
            .values(
                attempts=Delivery.attempts + 1, waits=Delivery.waits + outcome.waits,
                waited_seconds=Delivery.waited_seconds + outcome.waited_seconds, **released, **values,
            )
        )
    held = _hold(list(hold_next), fence) if hold_next else set()
    db.session.commit()
    mail_reputation.hear_refusals(
        {o.delivery_id: o.outcome.mail_reply for o in outcomes if isinstance(o.outcome, Failed) and o.outcome.mail_reply})
    if sent:
        # One line per recorded group, not per send: which worker sent what, traceably.
        log.info("sends recorded", extra={"delivery_ids": sent})
    for outcome in outcomes:
        if outcome.sent:
            record_delivery("sent", outcome.channel)
            continue
        gave_up = outcome.gave_up(final_attempt)
        record_delivery("failed" if gave_up else "retrying", outcome.channel)
        log.warning(
            "delivery %s: %s", "failed" if gave_up else "will retry", outcome.reason,
            extra={"delivery_id": outcome.delivery_id, "channel": outcome.channel},
        )
    return held
