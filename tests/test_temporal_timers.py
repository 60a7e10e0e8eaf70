"""The Temporal servers we start fire a short timer when it is due, not a second later: a dead
worker's batch is found by a heartbeat-timeout timer and retried after a 0.1 s backoff timer,
and with the server's default timerProcessorMaxTimeShift (1 s) each of those came up to a second
late (temporal/delivery/types.TEMPORAL_TIMER_SHIFT)."""
import uuid
from datetime import timedelta

from temporalio import workflow
from temporalio.api.enums.v1 import EventType
from temporalio.worker import Worker

SHORT_TIMER = timedelta(seconds=0.1)
# Fired within this of being set: the default shift fires every such timer 1 s late at the
# least; the bound leaves a busy box half a second of its own.
FIRED_WITHIN = timedelta(seconds=0.6)
# Timers set one after the other. A box at full load once held one of them 1.1 s (the server
# itself starved, not its setting); with the default shift none of them comes in time.
TIMERS = 3


@workflow.defn(sandboxed=False)
class ShortTimerWorkflow:
    @workflow.run
    async def run(self) -> None:
        for _ in range(TIMERS):
            await workflow.sleep(SHORT_TIMER)


def test_a_short_timer_fires_when_due_on_the_servers_we_start(harness, temporal_env):
    async def timer_gaps() -> list[timedelta]:
        client = temporal_env.client
        queue = f"short-timer-{uuid.uuid4().hex[:8]}"
        async with Worker(client, task_queue=queue, workflows=[ShortTimerWorkflow]):
            handle = await client.start_workflow(ShortTimerWorkflow.run, id=queue, task_queue=queue)
            await handle.result()
            history = await handle.fetch_history()
        def times(kind):
            return [event.event_time.ToDatetime() for event in history.events if event.event_type == kind]
        return [fired - started for started, fired in
                zip(times(EventType.EVENT_TYPE_TIMER_STARTED), times(EventType.EVENT_TYPE_TIMER_FIRED), strict=True)]

    gaps = harness.run(timer_gaps())
    assert len(gaps) == TIMERS and all(gap >= SHORT_TIMER for gap in gaps), gaps
    assert min(gaps) < FIRED_WITHIN, gaps
