"""EventWorkflow: one per event, alive from creation until the event is over or cancelled."""
from datetime import timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from .shared import (
        ACTIVITY_TIMEOUT,
        ActivityName,
        EventChange,
        EventRef,
        EventState,
        EventWorkflowInput,
    )


@workflow.defn
class EventWorkflow:
    @workflow.init
    def __init__(self, params: EventWorkflowInput) -> None:
        self._event_id = params.event_id
        self._version = params.version
        self._starts_at = params.starts_at
        self._ends_at = params.ends_at
        self._cancelled = params.cancelled
        self._changed = False  # set by signals to wake the main loop

    @workflow.run
    async def run(self, params: EventWorkflowInput) -> str:
        while not self._cancelled:
            remaining = self._finishes_at() - workflow.now()
            if remaining <= timedelta(0):
                break
            # Woken early by a signal: an edit may have moved the end, so measure again.
            try:
                await workflow.wait_condition(lambda: self._changed, timeout=remaining)
            except TimeoutError:
                pass
            self._changed = False

        if self._cancelled:
            return "cancelled"
        await workflow.execute_activity(
            ActivityName.COMPLETE_EVENT,
            EventRef(self._event_id),
            start_to_close_timeout=ACTIVITY_TIMEOUT,
        )
        return "completed"

    @workflow.signal
    def event_updated(self, change: EventChange) -> None:
        # Signals can arrive out of order; the newest version wins.
        if change.version < self._version:
            return
        self._version = change.version
        self._starts_at = change.starts_at
        self._ends_at = change.ends_at
        self._changed = True

    @workflow.signal
    def event_cancelled(self, change: EventChange) -> None:
        self.event_updated(change)
        self._cancelled = True
        self._changed = True

    @workflow.query
    def state(self) -> EventState:
        return EventState(
            event_id=self._event_id,
            version=self._version,
            starts_at=self._starts_at,
            ends_at=self._ends_at,
            cancelled=self._cancelled,
            pending_notifications=0,
        )

    def _finishes_at(self):
        return self._ends_at or self._starts_at
