"""Recurring series on Temporal: the materialize activity (a thin adapter over
domain/series/occurrences.py) and the `soonish-series` schedule that starts SeriesMaterializeWorkflow
daily (kept in sync at worker start and by `soonish sync-schedules`)."""
import time
from dataclasses import dataclass

from flask import Flask
from temporalio import activity
from temporalio.client import Client

from soonish.domain.series.occurrences import active_series_ids, materialize_series
from soonish.temporal.series.types import MATERIALIZE_SERIES, SeriesRound, SeriesRoundResult, series_schedule_id
from soonish.temporal.schedules import put_cron_schedule
from soonish.temporal.series.workflow import ROUND_TIMEOUT, SeriesMaterializeWorkflow

# One activity call stops taking series after this long and reports back, well inside its
# start-to-close timeout; the workflow calls it again for the rest.
ROUND_BUDGET_SECONDS = min(60.0, ROUND_TIMEOUT.total_seconds() / 2)


class SeriesActivities:
    def __init__(self, app: Flask) -> None:
        self.app = app

    def all(self) -> list:
        return [self.materialize_series]

    # Like the database activities: each series is one short transaction; let it finish.
    @activity.defn(name=MATERIALIZE_SERIES, no_thread_cancel_exception=True)
    def materialize_series(self, round_: SeriesRound) -> SeriesRoundResult:
        made, last, began = 0, round_.after_series_id, time.monotonic()
        with self.app.app_context():
            for series_id in active_series_ids(after=round_.after_series_id):
                made += materialize_series(series_id)
                last = series_id
                activity.heartbeat(last)
                if time.monotonic() - began > ROUND_BUDGET_SECONDS:
                    return SeriesRoundResult(made, last, done=False)
        return SeriesRoundResult(made, last, done=True)


@dataclass(frozen=True)
class SeriesScope:
    id_prefix: str
    task_queue: str
    cron: str

    @classmethod
    def from_config(cls, config) -> "SeriesScope":
        return cls(config["TEMPORAL_ID_PREFIX"], config["TEMPORAL_TASK_QUEUE"], config["SERIES_MATERIALIZE_CRON"])


async def put_series_schedule(client: Client, scope: SeriesScope) -> str:
    """Create the schedule, or bring it in line with the settings. Returns "created" or "updated"."""
    return await put_cron_schedule(client, series_schedule_id(scope.id_prefix), SeriesMaterializeWorkflow.run,
                                   SeriesRound(), scope.task_queue, scope.cron)
