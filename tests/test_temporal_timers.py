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
# Fired within this of being set: the default shift fires it 1 s late at the least; the bound
# leaves a busy box half a second of its own.
FIRED_WITHIN = timedelta(seconds=0.6)


@workflow.defn(sandboxed=False)
class ShortTimerWorkflow:
    @workflow.run
    async def run(self) -> None:
        await workflow.sleep(SHORT_TIMER)


def test_a_short_timer_fires_when_due_on_the_servers_we_start(harness, temporal_env):
    async def timer_gap() -> timedelta:
        client = temporal_env.client
        queue = f"short-timer-{uuid.uuid4().hex[:8]}"
        async with Worker(client, task_queue=queue, workflows=[ShortTimerWorkflow]):
            handle = await client.start_workflow(ShortTimerWorkflow.run, id=queue, task_queue=queue)
            await handle.result()
            history = await handle.fetch_history()
        times = {event.event_type: event.event_time.ToDatetime() for event in history.events}
        return times[EventType.EVENT_TYPE_TIMER_FIRED] - times[EventType.EVENT_TYPE_TIMER_STARTED]

    gap = harness.run(timer_gap())
    assert SHORT_TIMER <= gap < FIRED_WITHIN, gap
