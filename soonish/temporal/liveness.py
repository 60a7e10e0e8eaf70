"""Heartbeats that say "this worker is alive", whatever the activity is doing meanwhile."""
import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress

from temporalio import activity

from .shared import BATCH_HEARTBEAT_EVERY


@asynccontextmanager
async def heartbeating() -> AsyncIterator[None]:
    """Heartbeat every BATCH_HEARTBEAT_EVERY for the length of the block, from a task of its own.

    A batch's own heartbeats come after each group of sends, and none while it prepares (a
    second or more for 500 recipients on a busy box); with a heartbeat timeout short enough for
    a dead worker's batch to move within seconds, those gaps alone would time it out."""

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
