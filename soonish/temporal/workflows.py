"""Workflows: they only orchestrate. Activities are called by name (see shared.ActivityName)."""
import asyncio
import dataclasses
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError, WorkflowAlreadyStartedError

with workflow.unsafe.imports_passed_through():
    from soonish.temporal.shared import (
        ACTIVITY_TIMEOUT,
        BATCH_HEARTBEAT_TIMEOUT,
        BATCH_RETRY,
        BATCH_TIMEOUT,
        DELIVERY_RETRY,
        FIRST_ATTEMPT_RETRY,
        HISTORY_EVENTS_BEFORE_CONTINUE,
        LEGACY_BATCH_HEARTBEAT_TIMEOUT,
        MAX_DELIVERY_ATTEMPTS,
        PARALLEL_BATCHES,
        RECENT_NOTIFICATIONS_KEPT,
        REMINDER_PLAN_AHEAD,
        REMINDER_RECOUNT_EVERY,
        SENDS_TO_RETRY,
        ActivityName,
        BatchResult,
        CoalescedUpdate,
        DeliveryBatch,
        EventChange,
        EventRef,
        EventState,
        EventWorkflowInput,
        FanoutPlan,
        HeldUpdates,
        NotificationRef,
        NotificationRetries,
        NotifyRequest,
        ReminderInput,
        ReminderSlot,
        ReminderSync,
        ReminderSyncResult,
        SlotStart,
        TransactionalMail,
        batch_retry_delay,
    )
    from soonish.temporal.webhook_workflow import NOTIFICATION_SETTLED


async def sleep_until(moment) -> None:
    wait = moment - workflow.now()
    if wait > timedelta(0):
        await workflow.sleep(wait)


def batch_placement(delivery_task_queue: str) -> dict:
    """Where delivery batches run and how soon a dead worker's batch moves: on the delivery task
    queue with the fast-failover heartbeat. Batches scheduled before the split (on the
    workflow's own queue, 10 s heartbeat) stay as they were when their workflow replays."""
    if delivery_task_queue and workflow.patched("delivery-task-queue"):
        placement = dict(task_queue=delivery_task_queue, heartbeat_timeout=BATCH_HEARTBEAT_TIMEOUT)
        if workflow.patched("batch-retry-at-once"):  # a timed-out batch is retried at once
            placement["retry_policy"] = BATCH_RETRY
        return placement
    return dict(heartbeat_timeout=LEGACY_BATCH_HEARTBEAT_TIMEOUT)


async def each_batch(batches: list, deliver) -> None:
    """``await deliver(batch)`` for every batch, PARALLEL_BATCHES at a time."""
    slots = asyncio.Semaphore(PARALLEL_BATCHES)

    async def in_turn(batch) -> None:
        async with slots:
            await deliver(batch)

    await asyncio.gather(*(in_turn(batch) for batch in batches))


def batch_gave_up() -> None:
    # Out of retries (the database was down throughout): the ledger keeps these deliveries
    # pending, visible to the organizer, never lost.
    workflow.logger.warning("delivery batch gave up")


async def run_batches(activity_name: str, batches: list, delivery_task_queue: str = "") -> None:
    """Run one delivery activity per batch, PARALLEL_BATCHES at a time, each retried with
    backoff (the ledger makes a rerun skip what was sent)."""
    placement = batch_placement(delivery_task_queue) if batches else {}

    async def deliver(batch) -> None:
        try:
            await workflow.execute_activity(
                activity_name,
                batch,
                result_type=BatchResult,
                start_to_close_timeout=BATCH_TIMEOUT,
                **{"retry_policy": DELIVERY_RETRY, **placement},
            )
        except ActivityError:
            batch_gave_up()

    await each_batch(batches, deliver)


async def first_attempts(batches: list[DeliveryBatch], delivery_task_queue: str) -> list[DeliveryBatch]:
    """Each batch's first attempt at its sends (a batch whose worker died is still taken over at
    once); the batches with sends to retry, each with the attempts it made. A batch that failed
    for another reason (the database down) is retried in place: nothing else could go out."""
    placement = {**batch_placement(delivery_task_queue), "retry_policy": FIRST_ATTEMPT_RETRY}
    to_retry: list[DeliveryBatch] = []

    async def deliver(batch: DeliveryBatch) -> None:
        try:
            await workflow.execute_activity(
                ActivityName.DELIVER_BATCH, batch, result_type=BatchResult, start_to_close_timeout=BATCH_TIMEOUT,
                **placement,
            )
        except ActivityError as exc:
            failure = exc.cause
            if isinstance(failure, ApplicationError) and failure.type == SENDS_TO_RETRY:
                to_retry.append(dataclasses.replace(batch, earlier_attempts=failure.details[0]))
            else:
                batch_gave_up()

    await each_batch(batches, deliver)
    return to_retry


async def tell_integrators(notification_id: int) -> None:
    """Organizers' webhook endpoints hear how a notification went (notification.sent,
    delivery.failed), once its deliveries are settled."""
    try:
        await workflow.execute_activity(
            NOTIFICATION_SETTLED, NotificationRef(notification_id), start_to_close_timeout=ACTIVITY_TIMEOUT,
            retry_policy=RetryPolicy(maximum_attempts=5),
        )
    except ActivityError:
        # Telling integrators must never hold up the event's next notification.
        workflow.logger.warning("notification webhooks not recorded")


@workflow.defn
class EventWorkflow:
    """One per event: delivers its notifications and ends when the event is over or cancelled."""

    @workflow.init
    def __init__(self, params: EventWorkflowInput) -> None:
        self._event_id = params.event_id
        self._version = params.version
        self._starts_at = params.starts_at
        self._ends_at = params.ends_at
        self._cancelled = params.cancelled
        self._queue: list[int] = list(params.pending_notification_ids)
        # Notifications already taken from the queue, so a repeated signal is not sent twice.
        self._recent: list[int] = list(params.recent_notification_ids)
        self._scheduled_offsets: list[int] = list(params.scheduled_offsets)
        self._schedules_version = params.schedules_version
        # Reminder schedules may not match the subscriptions: checked at start, and whenever a
        # signal says subscriptions or the event's time changed.
        self._reminders_dirty = True
        self._syncing = False
        self._changed = False  # set by signals to wake the main loop
        # Updates held back so that a burst of edits reaches followers as one message.
        self._coalesce_window = timedelta(seconds=params.update_coalesce_seconds)
        self._held_updates: list[int] = list(params.held_update_ids)
        self._window_ends_at = params.update_window_ends_at

    @workflow.run
    async def run(self, params: EventWorkflowInput) -> str:
        # Reminder schedules are kept in line beside the main loop, so a slow or failing
        # schedule call never holds up a broadcast.
        asyncio.create_task(self._keep_reminders_in_sync())
        while True:
            await self._drain_queue()
            if self._held_updates and (self._cancelled or workflow.now() >= self._window_ends_at):
                await self._release_held_updates()
                continue
            if self._cancelled:
                break
            remaining = self._finishes_at() - workflow.now()
            if remaining <= timedelta(0):
                break
            if workflow.info().get_current_history_length() > HISTORY_EVENTS_BEFORE_CONTINUE:
                await workflow.wait_condition(lambda: self._reminders_settled() and workflow.all_handlers_finished())
                workflow.continue_as_new(self._carry_over())
            wait = min(remaining, self._window_ends_at - workflow.now()) if self._held_updates else remaining
            try:
                # Woken early by a signal: there may be work, or an edit moved the end.
                await workflow.wait_condition(lambda: self._changed or bool(self._queue), timeout=wait)
            except asyncio.TimeoutError:
                pass
            self._changed = False

        if not self._cancelled:
            await workflow.execute_activity(
                ActivityName.COMPLETE_EVENT, EventRef(self._event_id), start_to_close_timeout=ACTIVITY_TIMEOUT
            )
        # Cancelled or over: one last sync removes every schedule, then a last drain sends
        # anything signalled meanwhile.
        self._reminders_dirty = True
        await workflow.wait_condition(self._reminders_settled)
        await self._release_held_updates()
        await self._drain_queue()
        return "cancelled" if self._cancelled else "completed"

    def _reminders_settled(self) -> bool:
        return not self._reminders_dirty and not self._syncing

    async def _keep_reminders_in_sync(self) -> None:
        while True:
            await workflow.wait_condition(lambda: self._reminders_dirty)
            self._reminders_dirty = False
            self._syncing = True
            try:
                result = await workflow.execute_activity(
                    ActivityName.SYNC_REMINDERS,
                    ReminderSync(self._event_id, self._scheduled_offsets, self._schedules_version),
                    result_type=ReminderSyncResult,
                    start_to_close_timeout=ACTIVITY_TIMEOUT,
                )
            finally:
                self._syncing = False
            self._scheduled_offsets = result.offsets
            self._schedules_version = result.version

    async def _drain_queue(self) -> None:
        while self._queue:
            await self._deliver(self._queue[0])
            self._remember(self._queue.pop(0))

    async def _deliver(self, notification_id: int) -> None:
        plan = await workflow.execute_activity(
            ActivityName.PLAN_FANOUT,
            NotificationRef(notification_id),
            result_type=FanoutPlan,
            start_to_close_timeout=ACTIVITY_TIMEOUT,
        )
        batches = [DeliveryBatch(notification_id, batch) for batch in plan.batches]
        if workflow.patched("retries-beside-next-notifications"):
            # Only the first attempt holds up the event's next notification: a dead destination's
            # retries (up to 2 minutes of backoff) run in a workflow of their own, which tells
            # integrators how it went once they are done.
            to_retry = await first_attempts(batches, plan.delivery_task_queue)
            if to_retry:
                await self._retry_beside(NotificationRetries(notification_id, to_retry, plan.delivery_task_queue))
                return
        else:
            await run_batches(ActivityName.DELIVER_BATCH, batches, plan.delivery_task_queue)
        if workflow.patched("notification-settled-webhooks"):
            await tell_integrators(notification_id)

    async def _retry_beside(self, retries: NotificationRetries) -> None:
        """Start the notification's retries, left running when this workflow continues as new
        or ends (the event over does not stop a follower's pending welcome)."""
        try:
            await workflow.start_child_workflow(
                DeliveryRetriesWorkflow.run, retries,
                id=f"{workflow.info().workflow_id}-retries-{retries.notification_id}",
                parent_close_policy=workflow.ParentClosePolicy.ABANDON,
            )
        except WorkflowAlreadyStartedError:
            # Delivered again while its retries still run: those retries cover it (and the
            # ledger sends each target once).
            workflow.logger.info("retries of notification %s already running", retries.notification_id)

    async def _release_held_updates(self) -> None:
        """The held updates become one (or none, after a cancellation), queued to go out."""
        if not self._held_updates:
            return
        held, self._held_updates, self._window_ends_at = self._held_updates, [], None
        coalesced = await workflow.execute_activity(
            ActivityName.COALESCE_UPDATES, HeldUpdates(self._event_id, held), result_type=CoalescedUpdate,
            start_to_close_timeout=ACTIVITY_TIMEOUT,
        )
        self._enqueue(coalesced.notification_id)

    def _coalesces_updates(self) -> bool:
        return self._coalesce_window > timedelta(0) and workflow.patched("coalesce-updates")

    def _hold_update(self, notification_id: int) -> None:
        """Hold an update until its window closes; the window runs from the first held one."""
        if notification_id in self._held_updates or notification_id in self._queue or notification_id in self._recent:
            return
        if not self._held_updates:
            self._window_ends_at = workflow.now() + self._coalesce_window
        self._held_updates.append(notification_id)

    def _enqueue(self, notification_id: int | None) -> None:
        if notification_id is not None and notification_id not in self._queue and notification_id not in self._recent:
            self._queue.append(notification_id)

    def _remember(self, notification_id: int) -> None:
        self._recent = (self._recent + [notification_id])[-RECENT_NOTIFICATIONS_KEPT:]

    def _carry_over(self) -> EventWorkflowInput:
        return EventWorkflowInput(
            event_id=self._event_id,
            version=self._version,
            starts_at=self._starts_at,
            ends_at=self._ends_at,
            cancelled=self._cancelled,
            pending_notification_ids=list(self._queue),
            recent_notification_ids=list(self._recent),
            scheduled_offsets=list(self._scheduled_offsets),
            schedules_version=self._schedules_version,
            update_coalesce_seconds=self._coalesce_window.total_seconds(),
            held_update_ids=list(self._held_updates),
            update_window_ends_at=self._window_ends_at,
        )

    @workflow.signal
    def event_updated(self, change: EventChange) -> None:
        if change.notification_id is not None and self._coalesces_updates():
            self._hold_update(change.notification_id)
        else:
            self._enqueue(change.notification_id)
        self._take_change(change)

    def _take_change(self, change: EventChange) -> None:
        # Signals can arrive out of order; the newest version wins.
        if change.version >= self._version:
            self._version = change.version
            self._starts_at = change.starts_at
            self._ends_at = change.ends_at
            self._reminders_dirty = True
        self._changed = True

    @workflow.signal
    def event_cancelled(self, change: EventChange) -> None:
        # Never held: the cancellation goes out at once, and the held updates with it go stale.
        self._enqueue(change.notification_id)
        self._take_change(change)
        self._cancelled = True

    @workflow.signal
    def notify(self, request: NotifyRequest) -> None:
        self._enqueue(request.notification_id)

    @workflow.signal
    def resume_notification(self, request: NotifyRequest) -> None:
        """A broadcast paused for its bounce rate was resumed: deliver it again, though it was
        delivered already (the ledger sends only what is still pending)."""
        # The queue's head is the notification being delivered now: it may be this one, whose
        # fan-out is still finishing (telling integrators); the resumed one goes again after it.
        if request.notification_id not in self._queue[1:]:
            self._queue.append(request.notification_id)

    @workflow.signal
    def reminders_changed(self) -> None:
        """Subscriptions or their offsets changed: bring the reminder schedules in line."""
        self._reminders_dirty = True

    @workflow.query
    def state(self) -> EventState:
        return EventState(
            event_id=self._event_id,
            version=self._version,
            starts_at=self._starts_at,
            ends_at=self._ends_at,
            cancelled=self._cancelled,
            pending_notifications=len(self._queue),
            delivered_notifications=list(self._recent),
            scheduled_offsets=list(self._scheduled_offsets),
            reminders_in_sync=self._reminders_settled(),
        )

    def _finishes_at(self):
        return self._ends_at or self._starts_at


@workflow.defn
class DeliveryRetriesWorkflow:
    """The sends of one notification that failed their first attempt, retried with backoff
    (1, 2, 4 ... 64 s) beside the event's next notifications; then integrators hear how it went.
    Started by the EventWorkflow, id ``event-{id}-retries-{notification id}``."""

    @workflow.run
    async def run(self, retries: NotificationRetries) -> None:
        async def retry(batch: DeliveryBatch) -> None:
            await workflow.sleep(batch_retry_delay(batch.earlier_attempts))
            try:
                await workflow.execute_activity(
                    ActivityName.DELIVER_BATCH, batch, result_type=BatchResult, start_to_close_timeout=BATCH_TIMEOUT,
                    task_queue=retries.delivery_task_queue, heartbeat_timeout=BATCH_HEARTBEAT_TIMEOUT,
                    retry_policy=dataclasses.replace(
                        BATCH_RETRY, maximum_attempts=MAX_DELIVERY_ATTEMPTS - batch.earlier_attempts
                    ),
                )
            except ActivityError:
                batch_gave_up()

        await each_batch(retries.batches, retry)
        await tell_integrators(retries.notification_id)


@workflow.defn
class TransactionalMailWorkflow:
    """One mail to one person (a confirm or verify link), retried until the mail server takes it."""

    @workflow.run
    async def run(self, mail: TransactionalMail) -> None:
        await workflow.execute_activity(
            ActivityName.SEND_TRANSACTIONAL_MAIL,
            mail,
            start_to_close_timeout=ACTIVITY_TIMEOUT,
            retry_policy=DELIVERY_RETRY,
        )


@workflow.defn
class ReminderWorkflow:
    """Started by an (event, offset) schedule a lead time early: enrolls the reminder in the
    slot workflow of its due second, which delivers it on time along with every other reminder
    due then. Firing twice is harmless: a slot takes each reminder once."""

    @workflow.run
    async def run(self, reminder: ReminderInput) -> None:
        await workflow.execute_activity(
            ActivityName.ENROLL_REMINDER, reminder, start_to_close_timeout=ACTIVITY_TIMEOUT
        )


@workflow.defn
class ReminderSlotWorkflow:
    """All reminders due in one second: sleeps to it, plans them in one activity, and delivers
    them in batches packed across events. Per event, nothing waits at the due second: 300
    events due at once cost one timer, not 300 workflows' worth of tasks. Sends that need
    longer than their budgets allow start early enough that the last lands on time."""

    @workflow.init
    def __init__(self, slot: ReminderSlot) -> None:
        self._waiting: dict[str, ReminderInput] = {}
        self._taken: set[str] = set()

    @workflow.signal
    def enroll(self, reminder: ReminderInput) -> None:
        if reminder.key not in self._taken:
            self._waiting[reminder.key] = reminder

    @workflow.run
    async def run(self, slot: ReminderSlot) -> int:
        sends_from = slot.due
        if workflow.patched("reminders-sent-early"):
            sends_from = await self._count_sends(slot)
        else:
            await sleep_until(slot.due - REMINDER_PLAN_AHEAD)
        taken = 0
        # Reminders enrolled while a round is out go in the next round.
        while self._waiting:
            reminders = self._take_waiting()
            groups = await workflow.execute_activity(
                ActivityName.PLAN_REMINDERS, reminders, result_type=list[list[DeliveryBatch]],
                start_to_close_timeout=ACTIVITY_TIMEOUT,
            )
            await sleep_until(sends_from)
            await run_batches(ActivityName.DELIVER_BATCHES, groups, slot.delivery_task_queue)
            taken += len(reminders)
        return taken

    async def _count_sends(self, slot: ReminderSlot):
        """As reminders enroll (their schedules fire a lead before the due time), count their
        sends to know when those start: at the due time, unless the budgets need longer. Returns
        that moment, REMINDER_PLAN_AHEAD after which the slot plans (now, when it is late)."""
        sends_from = slot.due
        counted = 0
        while True:
            if len(self._waiting) > counted:
                counted = len(self._waiting)
                start = await workflow.execute_activity(
                    ActivityName.REMINDER_SENDS_FROM, list(self._waiting.values()), result_type=SlotStart,
                    start_to_close_timeout=ACTIVITY_TIMEOUT,
                )
                sends_from = start.sends_from
            plan_at = sends_from - REMINDER_PLAN_AHEAD
            if workflow.now() >= plan_at:
                return sends_from
            # Asleep until more reminders enroll or planning is due, not on a clock: a slot
            # started long before its due time costs nothing while nobody enrolls.
            try:
                await workflow.wait_condition(lambda: len(self._waiting) > counted, timeout=plan_at - workflow.now())
            except asyncio.TimeoutError:
                continue
            # Schedules fire in bursts: let the burst gather, then count it once.
            await sleep_until(min(plan_at, workflow.now() + REMINDER_RECOUNT_EVERY))

    def _take_waiting(self) -> list[ReminderInput]:
        reminders = list(self._waiting.values())
        self._taken.update(self._waiting)
        self._waiting.clear()
        return reminders
