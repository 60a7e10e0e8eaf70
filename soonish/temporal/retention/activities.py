"""Ledger retention on Temporal: the prune activity (a thin adapter over soonish.domain.retention)
and the `soonish-retention` schedule that starts RetentionWorkflow (kept in sync at worker
start and by `soonish sync-schedules`)."""
import time

from soonish.models import utcnow
from soonish.domain.retention import expire_idempotency_records, prune_batch
from soonish.temporal.activities import AppBound, database_activity
from soonish.temporal.retention.types import PRUNE_LEDGER, LedgerPruneResult, LedgerPruneRound
from soonish.temporal.retention.workflow import RetentionWorkflow
from soonish.temporal.rounds.activities import RoundClock
from soonish.temporal.schedules import CronScope


class RetentionActivities(AppBound):
    def all(self) -> list:
        return [self.prune_ledger]

    @database_activity(PRUNE_LEDGER)  # a batch is one short transaction
    def prune_ledger(self, _round: LedgerPruneRound) -> LedgerPruneResult:
        """Prune the ledger, and first drop the idempotency records past their 24 hours: the
        retention schedule is what removes those whatever the traffic (issue 22), and in this
        activity it needs no change to the workflow. Its name stays: running histories name it."""
        config = self.app.config
        days = int(config["LEDGER_RETENTION_DAYS"])
        size = int(config["LEDGER_PRUNE_BATCH_SIZE"])
        pause = float(config["LEDGER_PRUNE_PAUSE_SECONDS"])
        deleted, clock = 0, RoundClock()
        with self.app.app_context():
            expire_idempotency_records(utcnow())
            while True:
                removed = prune_batch(utcnow(), days, size)
                deleted += removed
                if removed < size:
                    return LedgerPruneResult(deleted, done=True)
                if clock.spent(deleted):
                    return LedgerPruneResult(deleted, done=False)
                # Between batches the ledger's other writers (the sends) have the database.
                time.sleep(pause)


class RetentionScope(CronScope):
    schedule_name = "soonish-retention"
    cron_setting = "LEDGER_RETENTION_CRON"

    def starts(self):
        return RetentionWorkflow.run, LedgerPruneRound()
