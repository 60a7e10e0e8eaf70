"""Ledger retention: deliveries of events that are over, older than the retention period, are
folded into per-notification tallies and deleted, a small batch per short transaction.

Plain domain code (models only): the `soonish-retention` schedule's activity and the
`soonish retention` command both call it.

Why deduplication is unaffected: the ledger's job is that a (notification, subscription,
target) is never sent twice, and only a send of that same notification can repeat it. Rows go
only when their notification is older than the retention period (90 days by default) and its
event is over (finished, or cancelled): its event workflow has ended, its batches gave up
retrying long before (minutes, see DELIVERY_RETRY), a reminder for it no longer "still stands",
and nothing sends an old notification again; anything new about the event (an announcement
after the end) is a new notification with ledger rows of its own. Notifications themselves are
kept, so a reminder's dedupe key still finds its row and never makes a second one.
"""
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, func, or_, select
from sqlalchemy.dialects.postgresql import insert as postgres_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from soonish.domain.delivery.outcomes import redacted_reason
from soonish.models import Delivery, DeliveryStatus, DeliveryTally, Event, EventStatus, IdempotencyRecord, Notification, db

# A row still pending after the retention period was never going to be sent (retries give up
# within minutes): it is folded as a failure, so the organizer's page doesn't wait for it forever.
NEVER_SENT = "not sent before the ledger was pruned"
REASON_MAX = 500
# An Idempotency-Key's answer is replayed for this long (services/idempotency.py), then it goes.
IDEMPOTENCY_KEY_LIFETIME = timedelta(hours=24)


@dataclass
class RetentionReport:
    notifications: int
    deliveries: int
    cutoff: datetime


def cutoff_for(now: datetime, retention_days: int) -> datetime:
    return now - timedelta(days=retention_days)


def _prunable_notification_ids(now: datetime, cutoff: datetime):
    over = or_(Event.status == EventStatus.CANCELLED, func.coalesce(Event.ends_at, Event.starts_at) < now)
    return (
        select(Notification.id).join(Event, Event.id == Notification.event_id)
        .where(Notification.created_at < cutoff, over)
    )


def what_would_go(now: datetime, retention_days: int) -> RetentionReport:
    """What a prune would fold and delete now (for `soonish retention --dry-run`)."""
    cutoff = cutoff_for(now, retention_days)
    notifications = _prunable_notification_ids(now, cutoff)
    deliveries = db.session.scalar(
        select(func.count()).select_from(Delivery).where(Delivery.notification_id.in_(notifications))
    )
    having_rows = select(func.count(func.distinct(Delivery.notification_id))).where(
        Delivery.notification_id.in_(notifications)
    )
    return RetentionReport(db.session.scalar(having_rows) or 0, deliveries or 0, cutoff)


def prune_batch(now: datetime, retention_days: int, batch_size: int) -> int:
    """Fold and delete up to ``batch_size`` prunable deliveries in one short transaction;
    returns how many went (0: nothing left).

    The delete returns what it removed and the same transaction adds it to the tallies, so a
    crash either keeps the rows or has counted them, never both; two prunes at once cannot
    count a row twice (the second one's delete finds it gone)."""
    cutoff = cutoff_for(now, retention_days)
    batch = (
        select(Delivery.id).where(Delivery.notification_id.in_(_prunable_notification_ids(now, cutoff)))
        .limit(batch_size).scalar_subquery()
    )
    removed = db.session.execute(
        delete(Delivery).where(Delivery.id.in_(batch))
        .returning(Delivery.notification_id, Delivery.status, Delivery.last_error),
        execution_options={"synchronize_session": False},
    ).all()
    if removed:
        tallies = Counter(_tally_key(row.notification_id, row.status, row.last_error) for row in removed)
        _add_to_tallies(tallies)
    db.session.commit()
    return len(removed)


def _tally_key(notification_id: int, status: DeliveryStatus, last_error: str | None) -> tuple:
    if status == DeliveryStatus.PENDING:
        return notification_id, DeliveryStatus.FAILED, NEVER_SENT
    if status == DeliveryStatus.FAILED:
        # A tally belongs to no one, so no erasure could find it later: it keeps why, not where.
        return notification_id, status, redacted_reason(last_error or "unknown")[:REASON_MAX]
    return notification_id, status, ""


def _add_to_tallies(tallies: Counter) -> None:
    table = DeliveryTally.__table__
    insert = postgres_insert if db.engine.dialect.name == "postgresql" else sqlite_insert
    statement = insert(table).values([
        {"notification_id": nid, "status": status, "reason": reason, "count": count}
        for (nid, status, reason), count in tallies.items()
    ])
    db.session.execute(statement.on_conflict_do_update(
        index_elements=[table.c.notification_id, table.c.status, table.c.reason],
        set_={"count": table.c.count + statement.excluded["count"]},
    ))


def expire_idempotency_records(now: datetime) -> int:
    """Delete the idempotency records older than their lifetime; returns how many went.

    A keyed request clears them too on its way, but only when keyed requests come: the daily
    retention round makes sure what they kept (a person's requests and answers) goes within a
    day of its lifetime whatever the traffic."""
    expired = db.session.execute(
        delete(IdempotencyRecord).where(IdempotencyRecord.created_at < now - IDEMPOTENCY_KEY_LIFETIME)
    ).rowcount
    db.session.commit()
    return expired
