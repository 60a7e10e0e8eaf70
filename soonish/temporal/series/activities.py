"""Recurring series on Temporal: the materialize activity (a thin adapter over
domain/series/occurrences.py) and the `soonish-series` schedule that starts SeriesMaterializeWorkflow
daily (kept in sync at worker start and by `soonish sync-schedules`)."""
from flask import Flask
from temporalio import activity

from soonish.domain.series.occurrences import active_series_ids, materialize_series
from soonish.temporal.rounds.activities import through_ids
from soonish.temporal.series.types import MATERIALIZE_SERIES, SeriesRound, SeriesRoundResult
from soonish.temporal.schedules import CronScope
from soonish.temporal.series.workflow import SeriesMaterializeWorkflow


class SeriesActivities:
    def __init__(self, app: Flask) -> None:
        self.app = app

    def all(self) -> list:
        return [self.materialize_series]

    # Like the database activities: each series is one short transaction; let it finish.
    @activity.defn(name=MATERIALIZE_SERIES, no_thread_cancel_exception=True)
    def materialize_series(self, round_: SeriesRound) -> SeriesRoundResult:
        with self.app.app_context():
            return SeriesRoundResult(*through_ids(
                active_series_ids(after=round_.after_series_id), round_.after_series_id, materialize_series))


class SeriesScope(CronScope):
    schedule_name = "soonish-series"
    cron_setting = "SERIES_MATERIALIZE_CRON"

    def starts(self):
        return SeriesMaterializeWorkflow.run, SeriesRound()
