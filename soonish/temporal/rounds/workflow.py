"""A job worked in rounds: one activity call per round, each working for a bounded time
(rounds/activities.RoundClock) and answering whether the job is done; the next round starts from
where the last one got to, and a run continues as new after ROUNDS_BEFORE_CONTINUE rounds.
Orchestration only: the feature's workflow names its activity and its progress type."""
from datetime import timedelta
from typing import Protocol, Self, TypeVar

from temporalio import workflow

# Each round works for at most this long, heartbeating as it goes.
ROUND_TIMEOUT = timedelta(minutes=5)
ROUND_HEARTBEAT = timedelta(seconds=30)
ROUNDS_BEFORE_CONTINUE = 500


class RoundResult(Protocol):
    done: bool  # nothing left for another round


Result = TypeVar("Result", bound=RoundResult)


class Progress(Protocol[Result]):
    """How far the job got: what each round is asked with, what a run continued as new starts
    from, and (once done) what it reports."""

    def after(self, result: Result) -> Self: ...


P = TypeVar("P", bound=Progress)


async def run_rounds(activity: str, progress: P, result_type: type[Result]) -> P:
    """Call ``activity`` round after round from ``progress`` until a round says the job is done;
    the progress then. Past ROUNDS_BEFORE_CONTINUE rounds the run continues as new from where
    it got to (and does not return)."""
    for _ in range(ROUNDS_BEFORE_CONTINUE):
        result = await workflow.execute_activity(
            activity, progress, result_type=result_type,
            start_to_close_timeout=ROUND_TIMEOUT, heartbeat_timeout=ROUND_HEARTBEAT,
        )
        progress = progress.after(result)
        if result.done:
            return progress
    workflow.continue_as_new(progress)
