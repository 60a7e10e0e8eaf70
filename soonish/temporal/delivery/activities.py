"""Delivery activities: thin adapters over the delivery domain (``soonish.domain.delivery``). Plan a
notification's fan-out, deliver it batch by batch, and send one-off mails. Every send goes
through the deliveries ledger, so a retried or rerun batch skips what is already sent."""
import asyncio
import logging
import time
from collections.abc import Sequence
from datetime import datetime, timedelta
from pathlib import Path

import aiohttp
from flask import Flask
from temporalio import activity
from temporalio.client import Client
from temporalio.exceptions import ApplicationError

from soonish.crypto import FieldCipher
from soonish.domain.delivery import (
    ChatSettings, Courier, Destination, Failed, MailSettings, PushSettings, RetryAfter, Sent, http_pool,
)
from soonish.domain.delivery import ledger, planning
from soonish.domain.delivery.pacing import BudgetSettings, Pacer, SendPacing
from soonish.domain.delivery.mail import OneOffKind, OneOffMail, one_off_mail
from soonish.domain import chat_installations, mail_reputation, outbox, push
from soonish.models import db, utcnow
from soonish.observability import record_reminder_lateness
from soonish.temporal.activities import AppBound, database_activity
from soonish.temporal.delivery.liveness import heartbeating, repeating
from soonish.temporal.delivery.types import (
    BATCH_SENDING_WINDOW,
    MAX_DELIVERY_ATTEMPTS,
    PARALLEL_BATCHES,
    SENDS_TO_RETRY,
    ActivityName,
    BatchResult,
    DeliveryBatch,
    FanoutPlan,
    NotificationRef,
    SubscriptionRange,
    TransactionalMail,
    batch_retry_delay,
    delivery_task_queue,
)

log = logging.getLogger(__name__)

# A fallback mail goes over SMTP, which no refused chat token stops: no broadcast to scope it by.
NO_CHAT_TOKEN = 0


async def _not_interrupted(group):
    """Run a group's sends and record to the end even if the activity is cancelled meanwhile (its
    heartbeat timed out, its workflow asked): a send already handed over can't be called back (an
    SMTP send goes on in its thread), so a group cut short would leave sent mail unrecorded, and
    the next attempt would send it again. Cancelled, it stops once the group is recorded."""
    task = asyncio.ensure_future(group)
    try:
        return await asyncio.shield(task)
    except asyncio.CancelledError:
        await task
        raise


class DeliveryActivities(AppBound):
    def __init__(self, app: Flask) -> None:
        super().__init__(app)
        config = app.config
        self.cipher = FieldCipher.from_setting(config["ENCRYPTION_KEYS"], config["SECRET_KEY"])
        self.mail = MailSettings.from_config(config, str(Path(app.instance_path) / "outbox"))
        self.batch_size = int(config["DELIVERY_BATCH_SIZE"])
        self.concurrency = int(config["DELIVERY_CONCURRENCY"])
        self.allow_private = bool(config["ALLOW_PRIVATE_TARGETS"])
        self.chat = ChatSettings.from_config(config)
        self.push = PushSettings.from_config(config)
        self.budgets = BudgetSettings.from_config(config)
        self._http: aiohttp.ClientSession | None = None
        self._pacer: Pacer | None = None
        # Broadcasts whose first sends bounced at an acceptable rate: not judged again.
        self._cleared: set[int] = set()

    def all(self) -> list:
        return [self.plan_fanout, self.deliver_batch, self.deliver_batches, self.send_transactional_mail]

    def _http_pool(self) -> aiohttp.ClientSession:
        """One HTTP pool for every batch this worker runs, made on its event loop at first use:
        a pool per batch opened a new connection to each receiver every batch."""
        if self._http is None:
            self._http = http_pool(self.allow_private, self.concurrency * PARALLEL_BATCHES)
        return self._http

    def _budgets(self) -> Pacer:
        """The worker's delivery budgets, one for every batch it runs (shared with the other
        workers through Redis when BUDGET_REDIS_URL is set), made on its event loop."""
        if self._pacer is None:
            self._pacer = Pacer(self.budgets)
        return self._pacer

    def courier(self) -> Courier:
        """A courier for one batch, on the worker's HTTP pool and budgets: broadcasts, reminders
        and the follow outbox's confirm mails share the mail server's and each host's budget."""
        return Courier(self.mail, self.allow_private, self._http_pool(), self.chat, self._budgets(),
                       installation_gone=self._installation_gone, push=self.push)

    async def _installation_gone(self, platform: str, workspace_id: str, reason: str) -> None:
        """A workspace's token is refused for good: its installation is removed (its channel
        follows end) and whoever added it is mailed, as for an uninstall."""
        mails = await asyncio.to_thread(self._remove_installation, platform, workspace_id, reason)
        for mail in mails:
            async with self.courier() as courier:
                outcome = await courier.deliver(Destination(email=mail.address), mail.message)
            if not isinstance(outcome, Sent):
                log.warning("installer not told of a removed installation: %s", outcome.reason)

    def _remove_installation(self, platform: str, workspace_id: str, reason: str) -> list:
        with self.app.app_context():
            removal = chat_installations.remove_workspace(platform, workspace_id, reason)
            db.session.commit()
            told = [one_off_mail(OneOffKind.CHAT_REMOVED, i.id, None, f"worker-{workspace_id}") for i in removal.to_tell]
            return [mail for mail in told if mail is not None]

    async def close(self) -> None:
        """Close the HTTP pool and the budgets' connection; after the worker has stopped."""
        if self._http is not None:
            await self._http.close()
            self._http = None
        if self._pacer is not None:
            await self._pacer.close()
            self._pacer = None

    @database_activity(ActivityName.PLAN_FANOUT)
    def plan_fanout(self, ref: NotificationRef) -> FanoutPlan:
        """Split the notification's recipients into id ranges of one batch each."""
        with self.app.app_context():
            ranges = planning.plan_notification(ref.notification_id, self.batch_size)
        return FanoutPlan(ref.notification_id, [SubscriptionRange(*r) for r in ranges],
                          delivery_task_queue(self.app.config))

    @activity.defn(name=ActivityName.DELIVER_BATCH)
    async def deliver_batch(self, batch: DeliveryBatch) -> BatchResult:
        return await self._deliver_backing_off([batch], batch.earlier_attempts)

    @activity.defn(name=ActivityName.DELIVER_BATCHES)
    async def deliver_batches(self, batches: list[DeliveryBatch]) -> BatchResult:
        """Several small batches (of different notifications) as one: a slot of reminders."""
        return await self._deliver_backing_off(batches)

    async def _deliver_backing_off(self, batches: list[DeliveryBatch], earlier_attempts: int = 0) -> BatchResult:
        """Deliver, and on failure name the wait before the next attempt: the retry policy's
        own first interval is for timeouts only (delivery/types.BATCH_RETRY)."""
        info = activity.info()
        attempt = earlier_attempts + info.attempt
        try:
            async with heartbeating():
                return await self._deliver(batches, attempt, ledger.fence_of(info.current_attempt_scheduled_time))
        except ApplicationError as exc:
            if exc.non_retryable or exc.next_retry_delay is not None:
                raise
            raise ApplicationError(exc.message, attempt, type=exc.type,
                                   next_retry_delay=batch_retry_delay(attempt)) from exc
        except Exception as exc:  # the database down, mostly: retried like a failed send
            raise ApplicationError(f"batch failed ({type(exc).__name__}); retrying",
                                   next_retry_delay=batch_retry_delay(attempt)) from exc

    def _prepare(self, batches: list[DeliveryBatch], fence: int) -> list[planning.BatchPlan]:
        """Every batch's plan, in one thread and one app context: a reminder slot's activity
        holds up to a batch's worth of small batches (50 events of 10 followers), and a thread
        hop and a context per batch added up to seconds on a busy box."""
        with self.app.app_context():
            return [
                planning.prepare_batch(
                    batch.notification_id, batch.subscriptions.first_id, batch.subscriptions.last_id, self.cipher,
                    fence,
                )
                for batch in batches
            ]

    def _record(self, group: list[planning.PlannedSend], outcomes: list[ledger.SendOutcome], final_attempt: bool,
                broadcasts: list[int], fence: int, hold_next: Sequence[int] = ()) -> tuple[list[planning.PlannedSend], set[int], set[int]]:
        """Record a group's sends; the mails that stand in for its DMs that failed for good,
        claimed in the same transaction, which also removes the devices whose push service said
        they are gone (no later send goes to them), leaves their owners' notices in the outbox
        and holds the next group (``hold_next``); the group's broadcasts now paused for bouncing;
        and which of the next group's rows are held for this attempt."""
        with self.app.app_context():
            sends = list(zip(group, outcomes))
            fallbacks = planning.fall_back_to_email(sends, fence)
            for device in push.remove_gone(planning.gone_devices(sends)):
                outbox.one_off_mail(OneOffKind.DEVICE_REMOVED, device.user_id, device=device.name)
            held_next = ledger.record(outcomes, final_attempt, hold_next, fence)
            return fallbacks, self._judge(broadcasts, outcomes), held_next

    def _judge(self, broadcasts: list[int], outcomes: list[ledger.SendOutcome]) -> set[int]:
        """Judge each broadcast whose mail was refused in this group by its first sends (until it
        is judged clear), tell the organizer of one this pauses, and say which of them are paused
        (by this worker or another). A group with no refusal costs nothing here: a broadcast
        that does not bounce on this worker goes on until it does."""
        refused = {b for b, o in zip(broadcasts, outcomes) if isinstance(o.outcome, Failed) and o.outcome.mail_reply}
        refused -= self._cleared
        for broadcast in refused:
            standing = mail_reputation.judge_broadcast(broadcast)
            if standing == mail_reputation.Standing.CLEAR:
                self._cleared.add(broadcast)
            elif standing == mail_reputation.Standing.PAUSED_NOW:
                # The organizer's notice, sent by the outbox drain like every one-off mail: the
                # pause was a conditional update, so exactly one worker writes it.
                outbox.one_off_mail(OneOffKind.BROADCAST_PAUSED, broadcast)
                db.session.commit()
        return mail_reputation.paused_among(refused - self._cleared) if refused else set()

    async def _send_and_record(self, courier: Courier, group: list[planning.PlannedSend], broadcasts: list[int],
                               final_attempt: bool, fence: int, hold_next: list[int]):
        """A group's sends, then their record (with the fallbacks it claims, the broadcasts it
        finds paused and the hold on the next group): the outcomes, when the sends ended, the
        fallbacks, the paused and the next group's rows held. The group's hold on its rows is
        renewed until they are recorded."""

        async def renew_hold() -> None:
            try:
                await asyncio.to_thread(self._hold, group, fence, True)
            except Exception:  # the database out for a moment: the sends go on, their record tells
                log.warning("could not renew the hold on a group of sends", exc_info=True)

        async with repeating(renew_hold, ledger.SEND_HOLD.total_seconds() / 3, at_once=False):
            outcomes = await asyncio.gather(*(self._send(courier, item, broadcast) for item, broadcast in zip(group, broadcasts)))
            sent_at = time.monotonic()
            fallbacks, paused, held_next = await asyncio.to_thread(
                self._record, group, outcomes, final_attempt, broadcasts, fence, hold_next)
        return outcomes, sent_at, fallbacks, paused, held_next

    def _hold(self, group: list[planning.PlannedSend], fence: int, renewing: bool = False) -> set[int]:
        with self.app.app_context():
            return ledger.hold_for_sending([send.delivery_id for send in group], fence, renewing)

    async def _deliver(self, batches: list[DeliveryBatch], attempt: int, fence: int) -> BatchResult:
        final_attempt = attempt >= MAX_DELIVERY_ATTEMPTS
        began = time.monotonic()
        planned: list[planning.PlannedSend] = []
        dues: list[datetime | None] = []  # when each send was due, for reminders
        broadcasts: list[int] = []  # each send's notification: a refused bot token stops its sends
        result = BatchResult()
        for batch, plan in zip(batches, await asyncio.to_thread(self._prepare, batches, fence)):
            planned += plan.sends
            dues += [plan.due] * len(plan.sends)
            broadcasts += [batch.notification_id] * len(plan.sends)
            result.already_sent += plan.already_sent
            result.retrying += plan.held_elsewhere  # an older attempt's group in flight: tried again after it
        prepared = time.monotonic()
        sending = recording = 0.0
        async with self.courier() as courier:
            # One group in flight at a time, recorded before the next starts: a crash can
            # repeat at most one group's sends. Fallback mails join the end of the line.
            start = 0
            held_ahead: tuple[list[int], set[int]] = ([], set())  # the next group, held by the last record
            while group := planned[start : start + self.concurrency]:
                if time.monotonic() - began > BATCH_SENDING_WINDOW.total_seconds():
                    result.retrying += len(planned) - start  # not tried: handed back, no attempt counted
                    break
                # Temporal may have handed the batch to a newer attempt (this one's heartbeats
                # stopped reaching it) while this one ran: what the newer one took is its to send
                # (and what was erased meanwhile, no one's). The group sent next is held until it
                # is recorded, so a newer attempt coming meanwhile leaves it to this one.
                # Usually the last group's record held this one; not if the line changed since
                # (a paused broadcast's sends left it, fallbacks joined a short last group).
                ids = [send.delivery_id for send in group]
                ours = held_ahead[1] if held_ahead[0] == ids else await asyncio.to_thread(self._hold, group, fence)
                held_ahead = ([], set())
                if len(ours) < len(group):
                    log.warning("%d sends left to a newer attempt of this batch", len(group) - len(ours))
                    kept = [i for i in range(start, len(planned)) if i >= start + len(group) or planned[i].delivery_id in ours]
                    planned[start:], dues[start:], broadcasts[start:] = (
                        [planned[i] for i in kept], [dues[i] for i in kept], [broadcasts[i] for i in kept])
                    continue
                mark = time.monotonic()
                following = [send.delivery_id for send in planned[start + len(group) : start + len(group) + self.concurrency]]
                outcomes, sent_at, fallbacks, paused, held_next = await _not_interrupted(self._send_and_record(
                    courier, group, broadcasts[start : start + len(group)], final_attempt, fence, following))
                held_ahead = (following, held_next)
                planned += fallbacks
                dues += [None] * len(fallbacks)
                broadcasts += [NO_CHAT_TOKEN] * len(fallbacks)
                if paused:  # the rest of a paused broadcast waits for its organizer (left pending)
                    rest = [i for i in range(start + len(group), len(planned)) if broadcasts[i] not in paused]
                    planned[start + len(group):] = [planned[i] for i in rest]
                    dues[start + len(group):] = [dues[i] for i in rest]
                    broadcasts[start + len(group):] = [broadcasts[i] for i in rest]
                now = utcnow()
                for outcome, due in zip(outcomes, dues[start : start + len(group)]):
                    if due is not None and outcome.sent:
                        record_reminder_lateness((now - due).total_seconds())
                sending += sent_at - mark
                recording += time.monotonic() - sent_at
                for outcome in outcomes:
                    if outcome.sent:
                        result.sent += 1
                    elif outcome.gave_up(final_attempt):
                        result.failed += 1
                    else:
                        result.retrying += 1
                start += len(group)
        # Where a batch's time went (the benchmark reads these lines; so can an operator).
        first = batches[0] if batches else DeliveryBatch(0, SubscriptionRange(0, 0))
        what = (
            f"batch {first.subscriptions.first_id}-{first.subscriptions.last_id} of notification {first.notification_id}"
            if len(batches) == 1 else f"{len(batches)} reminder batches"
        )
        log.info(
            "%s: %d sent, %d failed, %d retrying, %d already sent; "
            "prepare %.3fs, sends %.3fs, records %.3fs, total %.3fs",
            what, result.sent, result.failed, result.retrying, result.already_sent,
            prepared - began, sending, recording, time.monotonic() - began,
        )
        if result.retrying:
            # Temporal retries the batch with backoff; the ledger skips what was sent.
            raise ApplicationError(f"{result.retrying} sends will be retried", type=SENDS_TO_RETRY)
        return result

    async def _send(self, courier: Courier, item: planning.PlannedSend, broadcast: int) -> ledger.SendOutcome:
        async def waiting(waiting_for: str, seconds: float) -> None:
            until = utcnow() + timedelta(seconds=seconds)
            await asyncio.to_thread(self._mark_waiting, item.delivery_id, waiting_for, until)

        pacing = SendPacing(broadcast=str(broadcast), on_long_wait=waiting)
        outcome = await courier.deliver(item.destination, item.message, pacing)
        return ledger.SendOutcome(item.delivery_id, item.channel, outcome, pacing.waits, pacing.waited_seconds)

    def _mark_waiting(self, delivery_id: int, waiting_for: str, until: datetime) -> None:
        with self.app.app_context():
            ledger.mark_waiting(delivery_id, waiting_for, until)

    @activity.defn(name=ActivityName.SEND_TRANSACTIONAL_MAIL)
    async def send_transactional_mail(self, request: TransactionalMail) -> None:
        """One mail to one person, through a Courier of this worker: the mail server's budget is
        the broadcasts' one. A refusal for good ends the workflow; anything else is retried."""
        mail = await asyncio.to_thread(self._one_off_mail, request, activity.info().workflow_id)
        if mail is None:
            return
        async with self.courier() as courier:
            outcome = await courier.deliver(Destination(email=mail.address), mail.message)
        if isinstance(outcome, RetryAfter):
            raise ApplicationError(outcome.reason, next_retry_delay=timedelta(seconds=outcome.seconds))
        if isinstance(outcome, Failed):
            raise ApplicationError(outcome.reason, non_retryable=outcome.permanent)

    def _one_off_mail(self, request: TransactionalMail, workflow_id: str) -> OneOffMail | None:
        with self.app.app_context():
            return one_off_mail(request.kind, request.subject_id, request.address, workflow_id)


class ClientBound(AppBound):
    """Worker code that also starts workflows and sends through the worker's Courier (its
    HTTP pool and budgets, which ``deliveries`` holds)."""

    def __init__(self, app: Flask, client: Client, deliveries: DeliveryActivities) -> None:
        super().__init__(app)
        self.client = client
        self.deliveries = deliveries
