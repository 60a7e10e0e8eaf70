"""What a round's activity shares (see rounds/workflow.py)."""
import time
from collections.abc import Callable, Iterable

from flask import Flask
from temporalio import activity

from soonish.temporal.rounds.workflow import ROUND_TIMEOUT

# A round stops taking more work after this long and reports back, well inside its
# start-to-close timeout; the workflow's next round takes the rest.
ROUND_BUDGET_SECONDS = min(60.0, ROUND_TIMEOUT.total_seconds() / 2)


class RoundClock:
    """One round's time, started when the round is."""

    def __init__(self) -> None:
        self._began = time.monotonic()

    def spent(self, progress) -> bool:
        """Heartbeat ``progress`` (a step of the round is done); True once the round's time is up."""
        activity.heartbeat(progress)
        return time.monotonic() - self._began > ROUND_BUDGET_SECONDS


def through_ids(app: Flask, ids_after: Callable[[int], Iterable[int]], after: int,
                step: Callable[[int], int]) -> tuple[int, int, bool]:
    """One round, in ``app``'s context, over a job's rows by id past ``after`` (each ``step(id)``
    its own short transaction, counting what it did) until they are all done or the round's time
    is up: (the count, the last id done, or ``after`` when none was, and whether every id was done)."""
    count, last, clock = 0, after, RoundClock()
    with app.app_context():
        for row_id in ids_after(after):
            count += step(row_id)
            last = row_id
            if clock.spent(last):
                return count, last, False
    return count, last, True
