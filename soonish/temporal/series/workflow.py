"""The series materialization workflow, started daily by the `soonish-series` schedule: it
calls the activity until every active series has its occurrences made up to the rolling
horizon (services/series.py). Orchestration only."""
from datetime import timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from soonish.temporal.series.types import MATERIALIZE_SERIES, SeriesRound, SeriesRoundResult

# Each activity call works for at most this long, heartbeating after every series.
ROUND_TIMEOUT = timedelta(minutes=5)
ROUND_HEARTBEAT = timedelta(seconds=30)
ROUNDS_BEFORE_CONTINUE = 500


@workflow.defn
class SeriesMaterializeWorkflow:
    @workflow.run
    async def run(self, params: SeriesRound) -> int:
        made, after = params.made_before, params.after_series_id
        for _ in range(ROUNDS_BEFORE_CONTINUE):
            result = await workflow.execute_activity(
                MATERIALIZE_SERIES, SeriesRound(after, made), result_type=SeriesRoundResult,
                start_to_close_timeout=ROUND_TIMEOUT, heartbeat_timeout=ROUND_HEARTBEAT,
            )
            made += result.made
            after = result.last_series_id
            if result.done:
                return made
        workflow.continue_as_new(SeriesRound(after, made))
