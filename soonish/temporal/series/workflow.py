"""The series materialization workflow, started daily by the `soonish-series` schedule: it
calls the activity, round after round, until every active series has its occurrences made up
to the rolling horizon (services/series.py). Orchestration only."""
from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from soonish.temporal.series.types import MATERIALIZE_SERIES, SeriesRound, SeriesRoundResult

from soonish.temporal.rounds.workflow import run_rounds


@workflow.defn
class SeriesMaterializeWorkflow:
    @workflow.run
    async def run(self, params: SeriesRound) -> int:
        """How many occurrences were made, by this run and the runs it continues."""
        return (await run_rounds(MATERIALIZE_SERIES, params, SeriesRoundResult)).made_before
