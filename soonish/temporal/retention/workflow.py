"""The ledger retention workflow, started daily by the `soonish-retention` schedule: it calls
the prune activity until nothing is left to prune. Orchestration only."""
from datetime import timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from soonish.temporal.retention.types import PRUNE_LEDGER, LedgerPruneResult, LedgerPruneRound

# Each activity call prunes for at most this long, heartbeating after every batch.
ROUND_TIMEOUT = timedelta(minutes=5)
ROUND_HEARTBEAT = timedelta(seconds=30)
ROUNDS_BEFORE_CONTINUE = 500


@workflow.defn
class RetentionWorkflow:
    @workflow.run
    async def run(self, params: LedgerPruneRound) -> int:
        deleted = params.deleted_before
        for _ in range(ROUNDS_BEFORE_CONTINUE):
            result = await workflow.execute_activity(
                PRUNE_LEDGER, params, result_type=LedgerPruneResult,
                start_to_close_timeout=ROUND_TIMEOUT, heartbeat_timeout=ROUND_HEARTBEAT,
            )
            deleted += result.deleted
            if result.done:
                return deleted
        workflow.continue_as_new(LedgerPruneRound(deleted_before=deleted))
