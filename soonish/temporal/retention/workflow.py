"""The ledger retention workflow, started daily by the `soonish-retention` schedule: it calls
the prune activity, round after round, until nothing is left to prune. Orchestration only."""
from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from soonish.temporal.retention.types import PRUNE_LEDGER, LedgerPruneResult, LedgerPruneRound

from soonish.temporal.rounds.workflow import run_rounds


@workflow.defn
class RetentionWorkflow:
    @workflow.run
    async def run(self, params: LedgerPruneRound) -> int:
        """How many deliveries were deleted, by this run and the runs it continues."""
        return (await run_rounds(PRUNE_LEDGER, params, LedgerPruneResult)).deleted_before
