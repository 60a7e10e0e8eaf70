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
        EventWorkflowState, HeldUpdates, NotifyRequest, ReminderSyncStatus,
    )
    from soonish.temporal.events.types import ReminderSync, ReminderSyncResult

from soonish.temporal.delivery.workflow import DeliveryRetriesWorkflow, first_attempts, run_batches, tell_integrators


@workflow.defn
class EventWorkflow:
    """One per event: delivers its notifications and ends when the event is over or cancelled.
    All it knows is ``self.state``, handed whole to the next run when it continues as new."""

    @workflow.init
    def __init__(self, params: EventWorkflowState) -> None:
        self.state = params
        # Reminder schedules may not match the subscriptions: every run checks them at its start
        # (then whenever a signal says subscriptions or the event's time changed).
        self.state.reminder_sync = ReminderSyncStatus.WANTED
        self._changed = False  # set by signals to wake the main loop; nothing to carry

    @workflow.run
    async def run(self, params: EventWorkflowState) -> str:
        # Reminder schedules are kept in line beside the main loop, so a slow or failing
        # schedule call never holds up a broadcast.
        asyncio.create_task(self._keep_reminders_in_sync())
        state = self.state
        while True:
            await self._drain_queue()
            if state.held_update_ids and (state.cancelled or workflow.now() >= state.update_window_ends_at):
                await self._release_held_updates()
                continue
            if state.cancelled:
                break
            remaining = self._finishes_at() - workflow.now()
            if remaining <= timedelta(0):
                break
            history_limit = state.continue_after_history_events or HISTORY_EVENTS_BEFORE_CONTINUE
            if workflow.info().get_current_history_length() > history_limit:
                await workflow.wait_condition(lambda: state.reminders_in_sync and workflow.all_handlers_finished())
                workflow.continue_as_new(state)
            wait = min(remaining, state.update_window_ends_at - workflow.now()) if state.held_update_ids else remaining
            try:
                # Woken early by a signal: there may be work, or an edit moved the end.
                await workflow.wait_condition(lambda: self._changed or bool(state.pending_notification_ids),
                                              timeout=wait)
            except asyncio.TimeoutError:
                pass
            self._changed = False

        if not state.cancelled:
            await workflow.execute_activity(
                ActivityName.COMPLETE_EVENT, EventRef(state.event_id), start_to_close_timeout=ACTIVITY_TIMEOUT
            )
        # Cancelled or over: one last sync removes every schedule, then a last drain sends
        # anything signalled meanwhile.
        state.reminder_sync = ReminderSyncStatus.WANTED
        await workflow.wait_condition(lambda: state.reminders_in_sync)
        await self._release_held_updates()
        await self._drain_queue()
        return "cancelled" if state.cancelled else "completed"

    async def _keep_reminders_in_sync(self) -> None:
        state = self.state
        while True:
            await workflow.wait_condition(lambda: state.reminder_sync == ReminderSyncStatus.WANTED)
            state.reminder_sync = ReminderSyncStatus.SYNCING
            try:
                result = await workflow.execute_activity(
                    ActivityName.SYNC_REMINDERS,
                    ReminderSync(state.event_id, state.scheduled_offsets, state.schedules_version),
                    result_type=ReminderSyncResult,
                    start_to_close_timeout=ACTIVITY_TIMEOUT,
                )
            finally:
                # Wanted again while it ran: the loop syncs once more.
                if state.reminder_sync == ReminderSyncStatus.SYNCING:
                    state.reminder_sync = ReminderSyncStatus.IN_SYNC
            state.scheduled_offsets = result.offsets
            state.schedules_version = result.version

    async def _drain_queue(self) -> None:
        queue = self.state.pending_notification_ids
        while queue:
            await self._deliver(queue[0])
            self._remember(queue.pop(0))

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
        state = self.state
        if not state.held_update_ids:
            return
        held, state.held_update_ids, state.update_window_ends_at = state.held_update_ids, [], None
        coalesced = await workflow.execute_activity(
            ActivityName.COALESCE_UPDATES, HeldUpdates(state.event_id, held), result_type=CoalescedUpdate,
            start_to_close_timeout=ACTIVITY_TIMEOUT,
        )
        self._enqueue(coalesced.notification_id)

    def _coalesces_updates(self) -> bool:
        return self.state.update_coalesce_seconds > 0 and workflow.patched("coalesce-updates")

    def _hold_update(self, notification_id: int) -> None:
        """Hold an update, so that a burst of edits reaches followers as one message, until its
        window closes; the window runs from the first held one."""
        state = self.state
        if notification_id in state.held_update_ids or self._taken(notification_id):
            return
        if not state.held_update_ids:
            state.update_window_ends_at = workflow.now() + timedelta(seconds=state.update_coalesce_seconds)
        state.held_update_ids.append(notification_id)

    def _taken(self, notification_id: int) -> bool:
        """Queued, or taken from the queue lately: a repeated signal does not send it again."""
        state = self.state
        return notification_id in state.pending_notification_ids or notification_id in state.recent_notification_ids

    def _enqueue(self, notification_id: int | None) -> None:
        if notification_id is not None and not self._taken(notification_id):
            self.state.pending_notification_ids.append(notification_id)

    def _remember(self, notification_id: int) -> None:
        recent = self.state.recent_notification_ids + [notification_id]
        self.state.recent_notification_ids = recent[-RECENT_NOTIFICATIONS_KEPT:]

    @workflow.signal
    def event_updated(self, change: EventChange) -> None:
        if change.notification_id is not None and self._coalesces_updates():
            self._hold_update(change.notification_id)
        else:
            self._enqueue(change.notification_id)
        self._take_change(change)

    def _take_change(self, change: EventChange) -> None:
        # Signals can arrive out of order; the newest version wins.
        state = self.state
        if change.version >= state.version:
            state.version, state.starts_at, state.ends_at = change.version, change.starts_at, change.ends_at
            state.reminder_sync = ReminderSyncStatus.WANTED
        self._changed = True

    @workflow.signal
    def event_cancelled(self, change: EventChange) -> None:
        # Never held: the cancellation goes out at once, and the held updates with it go stale.
        self._enqueue(change.notification_id)
        self._take_change(change)
        self.state.cancelled = True

    @workflow.signal
    def notify(self, request: NotifyRequest) -> None:
        self._enqueue(request.notification_id)

    @workflow.signal
    def resume_notification(self, request: NotifyRequest) -> None:
        """A broadcast paused for its bounce rate was resumed: deliver it again, though it was
        delivered already (the ledger sends only what is still pending)."""
        # The queue's head is the notification being delivered now: it may be this one, whose
        # fan-out is still finishing (telling integrators); the resumed one goes again after it.
        queue = self.state.pending_notification_ids
        if request.notification_id not in queue[1:]:
            queue.append(request.notification_id)

    @workflow.signal
    def reminders_changed(self) -> None:
        """Subscriptions or their offsets changed: bring the reminder schedules in line."""
        self.state.reminder_sync = ReminderSyncStatus.WANTED

    @workflow.query(name="state")
    def current_state(self) -> EventWorkflowState:
        return self.state

    def _finishes_at(self):
        return self.state.ends_at or self.state.starts_at
