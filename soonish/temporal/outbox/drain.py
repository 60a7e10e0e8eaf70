"""The worker's drain of the follow outbox (models/outbox.py): a thin adapter over
soonish/domain/outbox.py, which does the database work.

Follows commit their subscription with an outbox row and answer at once; each worker runs one
drain beside its Temporal worker, which claims pending rows in batches and:
- mails confirm links over a few reused SMTP connections (Couriers, as broadcasts use), paced
  by the worker's budgets,
  recording each group of sends before the next starts, as the deliveries ledger does;
- hands welcomes to event workflows and tells them their subscriptions changed, one
  signal-with-start per event and kind per batch, however many follows the batch holds.

Rows are claimed with a lease and marked done only after their work is done: a worker killed
mid-batch loses nothing, and another drain takes the rows when the lease ends (a mail sent but
not yet recorded goes again with the same delivery key, as a broadcast's would).
"""
import asyncio
import logging
from collections import defaultdict
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any, TypeVar

from flask import Flask
from temporalio.client import Client
from temporalio.service import RPCError

from soonish.domain.delivery import Courier, DeliveryFailed, Destination
from soonish.domain.delivery.mail import OneOffMail
from soonish.models import OutboxKind
from soonish.domain import outbox
from soonish.domain.outbox import CLAIM_BATCH, Claimed, Outcome
from soonish.temporal.client import TemporalSettings, signal_with_start
from soonish.temporal.delivery.activities import DeliveryActivities
from soonish.temporal.delivery.types import MAX_DELIVERY_ATTEMPTS
from soonish.temporal.events.input import event_workflow_input
from soonish.temporal.events.types import NotifyRequest

log = logging.getLogger(__name__)

# Sends in flight before they are recorded: a crash repeats at most this many confirm mails.
SEND_GROUP = 50
# SMTP connections the confirm mails of a round go out on. One connection sends one mail at a
# time (four round trips to the server each), which capped a follow burst's mails at ~110/s,
# behind the follows themselves; the mail server's budget still paces them all together.
MAIL_CONNECTIONS = 4

T = TypeVar("T")


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

    async def _db(self, call: Callable[..., T], *args: Any) -> T:
        """Run a database call of domain/outbox.py in the app's context, off the event loop."""
        def in_app() -> T:
            with self.app.app_context():
                return call(*args)
        return await asyncio.to_thread(in_app)

    async def drain_once(self) -> int:
        """One round: claim up to CLAIM_BATCH rows, do their work, record it. Returns rows taken."""
        claimed = await self._db(outbox.claim)
        if not claimed:
            return 0
        mails = [item for item in claimed if item.kind == OutboxKind.CONFIRM_MAIL]
        signals = [item for item in claimed if item.kind != OutboxKind.CONFIRM_MAIL]
        if signals:
            await self._db(outbox.record, await self._tell_workflows(signals), MAX_DELIVERY_ATTEMPTS)
        if mails:
            await self._send_confirm_mails(mails)
        return len(claimed)

    # Confirm mails ---------------------------------------------------------------------------

    async def _send_confirm_mails(self, items: list[Claimed]) -> None:
        async with AsyncExitStack() as stack:
            couriers = [await stack.enter_async_context(self.deliveries.courier()) for _ in range(MAIL_CONNECTIONS)]
            for start in range(0, len(items), SEND_GROUP):
                group = items[start : start + SEND_GROUP]
                composed = await self._db(outbox.confirm_mails, group)
                outcomes = await asyncio.gather(*(
                    self._send(couriers[i % len(couriers)], item, mail) for i, (item, mail) in enumerate(composed)
                ))
                await self._db(outbox.record, list(outcomes), MAX_DELIVERY_ATTEMPTS)

    @staticmethod
    async def _send(courier: Courier, item: Claimed, mail: OneOffMail | None) -> Outcome:
        if mail is None:
            return Outcome(item)  # confirmed, left or gone meanwhile: nothing to mail
        try:
            await courier.send(Destination(email=mail.address), mail.message)
        except DeliveryFailed as exc:
            return Outcome(item, exc.reason, exc.permanent)
        return Outcome(item)

    # Event workflows -------------------------------------------------------------------------

    async def _tell_workflows(self, items: list[Claimed]) -> list[Outcome]:
        by_event: dict[int, list[Claimed]] = defaultdict(list)
        for item in items:
            by_event[item.event_id].append(item)
        events = await self._db(
            lambda ids: {event.id: event_workflow_input(event, self.app.config) for event in outbox.events(ids)}, list(by_event))
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
