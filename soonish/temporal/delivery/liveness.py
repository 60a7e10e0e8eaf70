"""Heartbeats that say "this worker is alive", whatever the activity is doing meanwhile."""
import asyncio
from collections.abc import AsyncIterator
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
        while True:
            activity.heartbeat()
            await asyncio.sleep(BATCH_HEARTBEAT_EVERY.total_seconds())

    task = asyncio.create_task(beat())
    try:
        yield
    finally:
        task.cancel()
        with suppress(asyncio.CancelledError):
            await task
