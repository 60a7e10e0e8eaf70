"""The worker's drain of the follow outbox (models/outbox.py).

Follows commit their subscription with an outbox row and answer at once; each worker runs one
drain beside its Temporal worker, which claims pending rows in batches and:
- mails confirm links over one reused SMTP connection (the Courier, as broadcasts do),
  recording each group of sends before the next starts, as the deliveries ledger does;
- hands welcomes to event workflows and tells them their subscriptions changed, one
  signal-with-start per event and kind per batch, however many follows the batch holds.

Rows are claimed with a lease (FOR UPDATE SKIP LOCKED on PostgreSQL, so several workers share
the work; SQLite's single writer makes the claim atomic by itself) and marked done only after
their work is done: a worker killed mid-batch loses nothing, and another drain takes the rows
when the lease ends (a mail sent but not yet recorded goes again with the same delivery key,
as a broadcast's would).
"""
import asyncio
import logging
from collections import defaultdict
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta

from flask import Flask
from sqlalchemy import or_, select, update
from sqlalchemy.orm import joinedload
from temporalio.client import Client
from temporalio.service import RPCError

from ..delivery import Courier, DeliveryFailed, Destination, Message
from ..models import Event, OutboxItem, OutboxKind, Subscription, db, utcnow
from .client import TemporalSettings, signal_with_start, workflow_input
from .fanout import DeliveryActivities
from .shared import MAX_DELIVERY_ATTEMPTS, NotifyRequest

log = logging.getLogger(__name__)

CLAIM_BATCH = 500
# Sends in flight before they are recorded: a crash repeats at most this many confirm mails.
SEND_GROUP = 50
LEASE = timedelta(seconds=60)
MAX_BACKOFF = timedelta(minutes=2)


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


class OutboxDrain:
    def __init__(self, app: Flask, client: Client, deliveries: DeliveryActivities) -> None:
        self.app = app
        self.client = client
        self.deliveries = deliveries
        self.temporal = TemporalSettings.from_config(app.config)
        self.poll_seconds = float(app.config["OUTBOX_POLL_SECONDS"])

    @asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        """Drain for the length of the block; at its end, finish the round under way."""
        stop = asyncio.Event()
        task = asyncio.create_task(self.run(stop))
        try:
            yield
        finally:
            stop.set()
            await task

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                taken = await self.drain_once()
            except Exception:  # the database away, say: log, wait, go on; the rows stay pending
                log.exception("outbox drain round failed")
                taken = 0
            if taken < CLAIM_BATCH:
                try:
                    await asyncio.wait_for(stop.wait(), self.poll_seconds)
                except TimeoutError:
                    pass

    async def drain_once(self) -> int:
        """One round: claim up to CLAIM_BATCH rows, do their work, record it. Returns rows taken."""
        claimed = await asyncio.to_thread(self._claim)
        if not claimed:
            return 0
        mails = [item for item in claimed if item.kind == OutboxKind.CONFIRM_MAIL]
        signals = [item for item in claimed if item.kind != OutboxKind.CONFIRM_MAIL]
        if signals:
            await asyncio.to_thread(self._record, await self._tell_workflows(signals))
        if mails:
            await self._send_confirm_mails(mails)
        return len(claimed)

    # Claiming and recording ----------------------------------------------------------------

    def _claim(self) -> list[Claimed]:
        now = utcnow()
        with self.app.app_context():
            pending = (
                select(OutboxItem.id)
                .where(OutboxItem.done_at.is_(None),
                       or_(OutboxItem.claimed_until.is_(None), OutboxItem.claimed_until < now))
                .order_by(OutboxItem.id)
                .limit(CLAIM_BATCH)
            )
            if db.engine.dialect.name == "postgresql":
                pending = pending.with_for_update(skip_locked=True)
            rows = db.session.execute(
                update(OutboxItem)
                .where(OutboxItem.id.in_(pending))
                .values(claimed_until=now + LEASE, attempts=OutboxItem.attempts + 1)
                .returning(OutboxItem.id, OutboxItem.kind, OutboxItem.event_id, OutboxItem.subject_id,
                           OutboxItem.attempts)
                .execution_options(synchronize_session=False)
            ).all()
            db.session.commit()
        return sorted((Claimed(*row) for row in rows), key=lambda item: item.id)

    def _record(self, outcomes: list[Outcome]) -> None:
        now = utcnow()
        with self.app.app_context():
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
                gave_up = outcome.permanent or item.attempts >= MAX_DELIVERY_ATTEMPTS
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

    # Confirm mails ---------------------------------------------------------------------------

    async def _send_confirm_mails(self, items: list[Claimed]) -> None:
        deliveries = self.deliveries
        async with Courier(deliveries.mail, deliveries.allow_private, chat=deliveries.chat) as courier:
            for start in range(0, len(items), SEND_GROUP):
                group = items[start : start + SEND_GROUP]
                composed = await asyncio.to_thread(self._compose, group)
                outcomes = await asyncio.gather(*(self._send(courier, *mail) for mail in composed))
                await asyncio.to_thread(self._record, list(outcomes))

    def _compose(self, items: list[Claimed]) -> list[tuple[Claimed, str | None, Message | None]]:
        with self.app.app_context():
            # The group's subscriptions, events and addresses in one query, not three per mail
            # (confirm_mail then finds them in the session).
            loaded = db.session.scalars(  # noqa: F841 (held so the session keeps them)
                select(Subscription).where(Subscription.id.in_([item.subject_id for item in items]))
                .options(joinedload(Subscription.event), joinedload(Subscription.user))
            ).all()
            composed = []
            for item in items:
                # Keyed by the outbox row: a resend after a crash carries the same key.
                key = f"soonish-confirm-{item.subject_id}-outbox-{item.id}"
                address, message = self.deliveries.confirm_mail(item.subject_id, delivery_key=key)
                composed.append((item, address, message))
            return composed

    @staticmethod
    async def _send(courier: Courier, item: Claimed, address: str | None, message: Message | None) -> Outcome:
        if address is None or message is None:
            return Outcome(item)  # confirmed, left or gone meanwhile: nothing to mail
        try:
            await courier.send(Destination(email=address), message)
        except DeliveryFailed as exc:
            return Outcome(item, exc.reason, exc.permanent)
        return Outcome(item)

    # Event workflows -------------------------------------------------------------------------

    async def _tell_workflows(self, items: list[Claimed]) -> list[Outcome]:
        by_event: dict[int, list[Claimed]] = defaultdict(list)
        for item in items:
            by_event[item.event_id].append(item)
        events = await asyncio.to_thread(self._load_events, list(by_event))
        outcomes = []
        for event_id, event_items in by_event.items():
            params = events.get(event_id)
            if params is None:
                outcomes += [Outcome(item) for item in event_items]  # the event is gone
                continue
            try:
                for item in event_items:
                    if item.kind == OutboxKind.NOTIFY:
                        await signal_with_start(self.client, self.temporal, params, "notify",
                                                NotifyRequest(item.subject_id))
                if any(item.kind == OutboxKind.REMINDERS_CHANGED for item in event_items):
                    await signal_with_start(self.client, self.temporal, params, "reminders_changed")
            except (RPCError, RuntimeError, OSError) as exc:
                outcomes += [Outcome(item, f"Temporal: {exc or type(exc).__name__}") for item in event_items]
            else:
                outcomes += [Outcome(item) for item in event_items]
        return outcomes

    def _load_events(self, event_ids: list[int]) -> dict:
        with self.app.app_context():
            events = db.session.scalars(select(Event).where(Event.id.in_(event_ids)))
            return {event.id: workflow_input(event) for event in events}
