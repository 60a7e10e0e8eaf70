"""What a round's activity shares (see rounds/workflow.py)."""
import time

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
