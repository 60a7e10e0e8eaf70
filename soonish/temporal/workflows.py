"""Workflows: they only orchestrate. Activities are called by name (see shared.ActivityName)."""
import asyncio
from datetime import timedelta

from temporalio import workflow
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from .shared import (
        ACTIVITY_TIMEOUT,
        BATCH_HEARTBEAT_TIMEOUT,
        BATCH_TIMEOUT,
        DELIVERY_RETRY,
        HISTORY_EVENTS_BEFORE_CONTINUE,
        PARALLEL_BATCHES,
        RECENT_NOTIFICATIONS_KEPT,
        ActivityName,
        BatchResult,
        DeliveryBatch,
        EventChange,
        EventRef,
        EventState,
        EventWorkflowInput,
        FanoutPlan,
        NotificationRef,
        NotifyRequest,
        TransactionalMail,
    )


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
        self._changed = False  # set by signals to wake the main loop

    @workflow.run
    async def run(self, params: EventWorkflowInput) -> str:
        while True:
            while self._queue:
                await self._deliver(self._queue[0])
                self._remember(self._queue.pop(0))
            if self._cancelled:
                return "cancelled"
            remaining = self._finishes_at() - workflow.now()
            if remaining <= timedelta(0):
                break
            if workflow.info().get_current_history_length() > HISTORY_EVENTS_BEFORE_CONTINUE:
                await workflow.wait_condition(workflow.all_handlers_finished)
                workflow.continue_as_new(self._carry_over())
            try:
                # Woken early by a signal: there may be work, or an edit moved the end.
                await workflow.wait_condition(lambda: self._changed or bool(self._queue), timeout=remaining)
            except asyncio.TimeoutError:
                pass
            self._changed = False

        await workflow.execute_activity(
            ActivityName.COMPLETE_EVENT, EventRef(self._event_id), start_to_close_timeout=ACTIVITY_TIMEOUT
        )
        return "completed"

    async def _deliver(self, notification_id: int) -> None:
        plan = await workflow.execute_activity(
            ActivityName.PLAN_FANOUT,
            NotificationRef(notification_id),
            result_type=FanoutPlan,
            start_to_close_timeout=ACTIVITY_TIMEOUT,
        )
        slots = asyncio.Semaphore(PARALLEL_BATCHES)

        async def deliver_batch(batch) -> None:
            async with slots:
                try:
                    await workflow.execute_activity(
                        ActivityName.DELIVER_BATCH,
                        DeliveryBatch(notification_id, batch),
                        result_type=BatchResult,
                        start_to_close_timeout=BATCH_TIMEOUT,
                        heartbeat_timeout=BATCH_HEARTBEAT_TIMEOUT,
                        retry_policy=DELIVERY_RETRY,
                    )
                except ActivityError:
                    # Out of retries (the database was down throughout): the ledger keeps
                    # these deliveries pending, visible to the organizer, never lost.
                    workflow.logger.warning("batch gave up", extra={"notification_id": notification_id})

        await asyncio.gather(*(deliver_batch(batch) for batch in plan.batches))

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
        )

    @workflow.signal
    def event_updated(self, change: EventChange) -> None:
        self._enqueue(change.notification_id)
        # Signals can arrive out of order; the newest version wins.
        if change.version >= self._version:
            self._version = change.version
            self._starts_at = change.starts_at
            self._ends_at = change.ends_at
        self._changed = True

    @workflow.signal
    def event_cancelled(self, change: EventChange) -> None:
        self.event_updated(change)
        self._cancelled = True

    @workflow.signal
    def notify(self, request: NotifyRequest) -> None:
        self._enqueue(request.notification_id)

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
        )

    def _finishes_at(self):
        return self._ends_at or self._starts_at


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
