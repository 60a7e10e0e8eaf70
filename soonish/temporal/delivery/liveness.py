"""Signs that say "this worker is alive", whatever the activity is doing meanwhile: heartbeats
to Temporal, and the hold on a group of sends in flight in the ledger."""
import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager, suppress

from temporalio import activity

from soonish.temporal.delivery.types import BATCH_HEARTBEAT_EVERY


@asynccontextmanager
async def heartbeating() -> AsyncIterator[None]:
    """Heartbeat every BATCH_HEARTBEAT_EVERY for the length of the block, from a task of its own
    (a batch's progress is in the ledger, so the heartbeats carry none).

    Not from the batch's own steps: none come while it prepares (a second or more for 500
    recipients on a busy box), and with a heartbeat timeout short enough for a dead worker's
    batch to move within seconds, those gaps alone would time it out. Nor as well as the task:
    each heartbeat is a call into the SDK's core on the event loop, and one per group of sends
    on top of these held the loop 0.42 s per 10,000 sends (py-spy: 106 samples at 250 Hz;
    12 without them)."""

    async def beat() -> None:
        activity.heartbeat()

    async with repeating(beat, BATCH_HEARTBEAT_EVERY.total_seconds(), at_once=True):
        yield


@asynccontextmanager
async def repeating(action: Callable[[], Awaitable[None]], every: float, at_once: bool) -> AsyncIterator[None]:
    """Await ``action`` every ``every`` seconds (first ``at_once``, or after the first interval)
    for the length of the block, from a task of its own."""

    async def loop() -> None:
        if not at_once:
            await asyncio.sleep(every)
        while True:
            await action()
            await asyncio.sleep(every)

    task = asyncio.create_task(loop())
    try:
        yield
    finally:
        task.cancel()
        with suppress(asyncio.CancelledError):
            await task
