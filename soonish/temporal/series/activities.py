"""Recurring series on Temporal: the materialize activity (a thin adapter over
domain/series/occurrences.py) and the `soonish-series` schedule that starts SeriesMaterializeWorkflow
daily (kept in sync at worker start and by `soonish sync-schedules`)."""
from soonish.domain.series.occurrences import active_series_ids, materialize_series
from soonish.temporal.activities import AppBound, database_activity
from soonish.temporal.rounds.activities import through_ids
from soonish.temporal.series.types import MATERIALIZE_SERIES, SeriesRound, SeriesRoundResult
from soonish.temporal.schedules import CronScope
from soonish.temporal.series.workflow import SeriesMaterializeWorkflow


class SeriesActivities(AppBound):
    def all(self) -> list:
        return [self.materialize_series]

    @database_activity(MATERIALIZE_SERIES)  # each series is one short transaction
    def materialize_series(self, round_: SeriesRound) -> SeriesRoundResult:
        return SeriesRoundResult(*through_ids(self.app, active_series_ids, round_.after_series_id, materialize_series))


class SeriesScope(CronScope):
    schedule_name = "soonish-series"
    cron_setting = "SERIES_MATERIALIZE_CRON"

    def starts(self):
        return SeriesMaterializeWorkflow.run, SeriesRound()
