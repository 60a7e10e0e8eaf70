"""The worker's drain of the outbox (models/outbox.py): a thin adapter over
soonish/domain/outbox.py, which does the database work. Besides the gateway for what must be
synchronous (services/temporal.py), the only place an operation's effects reach Temporal.

Operations commit their change with outbox rows and answer at once; each worker runs one
drain beside its Temporal worker, which claims pending rows in batches and:
- mails confirm links and one-off mails over a few reused SMTP connections (Couriers, as
  broadcasts use), paced by the worker's budgets,
  recording each group of sends before the next starts, as the deliveries ledger does;
- tells event workflows what changed, in the order the rows were written (starts, changes,
  notifications), with one reminders_changed signal-with-start per event per batch, however
  many follows the batch holds;
- tells a community's followers of its new event (database work, leaving the notification's
  own row for the next round; see domain/community_follows.py);
- starts outgoing webhook deliveries and waitlist offers, with workflow ids derived from the
  row, so a row retried after a crash starts nothing twice.

Rows are claimed with a lease and marked done only after their work is done: a worker killed
mid-batch loses nothing, and another drain takes the rows when the lease ends (a mail sent but
not yet recorded goes again with the same delivery key, as a broadcast's would).
"""
import asyncio
import logging
from collections import defaultdict
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from datetime import datetime

from flask import Flask
from sqlalchemy.exc import SQLAlchemyError
from temporalio.client import Client
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError

from soonish.domain.delivery import Courier, Destination, Failed, RetryAfter
from soonish.domain.delivery.mail import OneOffMail
from soonish.models import OutboxKind
from soonish.domain import community_follows, outbox
from soonish.domain.outbox import CLAIM_BATCH, EVENT_WORKFLOW, MAILS, Claimed, Outcome
from soonish.temporal.client import TemporalSettings, signal_with_start
from soonish.temporal.delivery.activities import ClientBound, DeliveryActivities
from soonish.temporal.delivery.types import MAX_DELIVERY_ATTEMPTS
from soonish.temporal.events.input import event_workflow_input
from soonish.temporal.events.types import EventChange, EventWorkflowState, NotifyRequest, event_workflow_id
from soonish.temporal.events.workflow import EventWorkflow
from soonish.temporal.waitlist.activities import start_offer
from soonish.temporal.waitlist.types import WaitlistOffer
from soonish.temporal.webhooks.types import WebhookDeliveryInput, delivery_workflow_id
from soonish.temporal.webhooks.workflow import WebhookDeliveryWorkflow

log = logging.getLogger(__name__)

# Sends in flight before they are recorded: a crash repeats at most this many confirm mails.
SEND_GROUP = 50
# SMTP connections the confirm mails of a round go out on. One connection sends one mail at a
# time (four round trips to the server each), which capped a follow burst's mails at ~110/s,
# behind the follows themselves; the mail server's budget still paces them all together.
MAIL_CONNECTIONS = 4


class OutboxDrain(ClientBound):
    def __init__(self, app: Flask, client: Client, deliveries: DeliveryActivities) -> None:
        super().__init__(app, client, deliveries)
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
        claimed = await self.in_app(outbox.claim)
        if not claimed:
            return 0
        mails = [item for item in claimed if item.kind in MAILS]
        signals = [item for item in claimed if item.kind in EVENT_WORKFLOW]
        starts = [item for item in claimed if item.kind not in MAILS + EVENT_WORKFLOW]
        if signals:
            await self.in_app(outbox.record, await self._tell_workflows(signals), MAX_DELIVERY_ATTEMPTS)
        if starts:
            # Side by side: a settled broadcast leaves a message per endpoint, each one start.
            started = await asyncio.gather(*(self._start(item) for item in starts))
            await self.in_app(outbox.record, list(started), MAX_DELIVERY_ATTEMPTS)
        if mails:
            await self._send_mails(mails)
        return len(claimed)

    # Mails -----------------------------------------------------------------------------------

    async def _send_mails(self, items: list[Claimed]) -> None:
        async with AsyncExitStack() as stack:
            couriers = [await stack.enter_async_context(self.deliveries.courier()) for _ in range(MAIL_CONNECTIONS)]
            for start in range(0, len(items), SEND_GROUP):
                group = items[start : start + SEND_GROUP]
                composed = await self.in_app(outbox.mails, group)
                outcomes = await asyncio.gather(*(
                    self._send(couriers[i % len(couriers)], item, mail) for i, (item, mail) in enumerate(composed)
                ))
                await self.in_app(outbox.record, list(outcomes), MAX_DELIVERY_ATTEMPTS)

    @staticmethod
    async def _send(courier: Courier, item: Claimed, mail: OneOffMail | None) -> Outcome:
        if mail is None:
            return Outcome(item)  # confirmed, left or gone meanwhile: nothing to mail
        delivered = await courier.deliver(Destination(email=mail.address), mail.message)
        if isinstance(delivered, Failed):
            return Outcome(item, delivered.reason, delivered.permanent)
        if isinstance(delivered, RetryAfter):
            return Outcome(item, delivered.reason)
        return Outcome(item)

    # Event workflows -------------------------------------------------------------------------

    async def _tell_workflows(self, items: list[Claimed]) -> list[Outcome]:
        by_event: dict[int, list[Claimed]] = defaultdict(list)
        for item in items:
            by_event[item.event_id].append(item)
        events = await self.in_app(
            lambda ids: {event.id: event_workflow_input(event, self.app.config) for event in outbox.events(ids)}, list(by_event))
        outcomes = []
        for event_id, event_items in by_event.items():
            params = events.get(event_id)
            if params is None:
                outcomes += [Outcome(item) for item in event_items]  # the event is gone
                continue
            try:
                for item in event_items:  # in the order they were written
                    await self._tell_workflow(params, item)
                if any(item.kind == OutboxKind.REMINDERS_CHANGED for item in event_items):
                    await signal_with_start(self.client, self.temporal, params, "reminders_changed")
            except (RPCError, RuntimeError, OSError) as exc:
                outcomes += [Outcome(item, f"Temporal: {exc or type(exc).__name__}") for item in event_items]
            else:
                outcomes += [Outcome(item) for item in event_items]
        return outcomes

    async def _tell_workflow(self, params: EventWorkflowState, item: Claimed) -> None:
        # Each signal is signal-with-start: it starts a workflow that never started or has
        # finished (an ended event moved to the future, an announcement after the end).
        notification_id = item.subject_id or None
        if item.kind == OutboxKind.EVENT_CREATED:
            try:
                await self.client.start_workflow(EventWorkflow.run, params, id=event_workflow_id(self.temporal.id_prefix, params.event_id),
                                                 task_queue=self.temporal.task_queue)
            except WorkflowAlreadyStartedError:
                pass  # a change or a follow started it first, or a retried row
        elif item.kind == OutboxKind.NOTIFY:
            await signal_with_start(self.client, self.temporal, params, "notify", NotifyRequest(item.subject_id))
        elif item.kind == OutboxKind.RESUME:  # a paused broadcast its organizer resumed
            await signal_with_start(self.client, self.temporal, params, "resume_notification", NotifyRequest(item.subject_id))
        elif item.kind in (OutboxKind.EVENT_UPDATED, OutboxKind.EVENT_CANCELLED):
            # The event as it is now: signals carry its newest version, which the workflow keeps.
            change = EventChange(params.version, params.starts_at, params.ends_at, notification_id)
            await signal_with_start(self.client, self.temporal, params, item.kind.value, change)

    # Webhook deliveries and waitlist offers -------------------------------------------------

    async def _start(self, item: Claimed) -> Outcome:
        try:
            if item.kind == OutboxKind.WEBHOOK_MESSAGE:
                params = WebhookDeliveryInput.from_config(item.subject_id, self.app.config)
                try:
                    await self.client.start_workflow(
                        WebhookDeliveryWorkflow.run, params, task_queue=self.temporal.task_queue,
                        id=delivery_workflow_id(self.temporal.id_prefix, item.subject_id, f"o{item.id}"))
                except WorkflowAlreadyStartedError:
                    pass  # a row retried after a crash: its delivery is under way
            elif item.kind == OutboxKind.COMMUNITY_EVENT_CREATED:
                # Database work alone: it leaves the notification's own outbox row, which the
                # next round hands to the event's workflow.
                await self.in_app(community_follows.tell_followers, item.subject_id)
            elif item.kind == OutboxKind.WAITLIST_OFFER:
                offer = WaitlistOffer(item.subject_id, datetime.fromisoformat(item.payload["expires_at"]))
                await start_offer(self.client, self.temporal.id_prefix, self.temporal.task_queue, offer)
            else:
                return Outcome(item, f"no drain for outbox kind {item.kind.value}", permanent=True)
        except (RPCError, RuntimeError, OSError) as exc:
            return Outcome(item, f"Temporal: {exc or type(exc).__name__}")
        except SQLAlchemyError as exc:
            return Outcome(item, f"database: {type(exc).__name__}")
        return Outcome(item)
