"""The event's workflow: one per event, for its life. It only orchestrates; activities are called
by name (see delivery/types.ActivityName)."""
import asyncio
from datetime import timedelta

from temporalio import workflow
from temporalio.exceptions import WorkflowAlreadyStartedError

with workflow.unsafe.imports_passed_through():
    from soonish.temporal.delivery.types import (
        ACTIVITY_TIMEOUT,
        ActivityName,
        DeliveryBatch,
        FanoutPlan,
        NotificationRef,
        NotificationRetries,
    )
    from soonish.temporal.events.types import (
        HISTORY_EVENTS_BEFORE_CONTINUE, RECENT_NOTIFICATIONS_KEPT, CoalescedUpdate, EventChange, EventRef,
        EventState, EventWorkflowInput, HeldUpdates, NotifyRequest,
    )
    from soonish.temporal.events.types import ReminderSync, ReminderSyncResult

from soonish.temporal.delivery.workflow import DeliveryRetriesWorkflow, first_attempts, run_batches, tell_integrators


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
