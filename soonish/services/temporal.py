"""The app's Temporal gateway, made once per app from its config: the one service module that
talks to Temporal, for what must be answered synchronously (readiness, the schedule repair
`soonish sync-schedules` runs and reports).

Every other effect of an operation is an outbox row (domain/outbox.py) committed with its change:
an operation validates, changes the session, leaves its rows and commits once; the worker's
drain (temporal/outbox/drain.py) acts on the rows. Helpers that add to the session
(``broadcast.record``) only flush; the operation that calls them commits.
"""
from dataclasses import dataclass, field

from flask import current_app
from sqlalchemy import select

from soonish.domain.delivery.reminders import offsets_in_use
from soonish.models import Event, EventStatus, db, utcnow
from soonish.temporal.client import TemporalGateway, TemporalSettings
from soonish.temporal.digest.activities import DigestScope
from soonish.temporal.events.input import event_workflow_input
from soonish.temporal.reminders.schedules import ScheduleScope, delete_reminder, list_reminder_schedules, put_reminder
from soonish.temporal.retention.activities import RetentionScope
from soonish.temporal.series.activities import SeriesScope


def gateway() -> TemporalGateway:
    extensions = current_app.extensions
    if "soonish.temporal" not in extensions:
        extensions["soonish.temporal"] = TemporalGateway(TemporalSettings.from_config(current_app.config))
    return extensions["soonish.temporal"]


# Repairing reminder schedules after a restore or a lost Temporal server -----------------------


@dataclass
class ScheduleRepair:
    created: list[tuple[int, int]] = field(default_factory=list)  # (event id, offset seconds)
    updated: list[tuple[int, int]] = field(default_factory=list)
    removed: list[tuple[int, int]] = field(default_factory=list)
    workflows_ensured: int = 0
    retention: str = ""  # the soonish-retention schedule: "created" or "updated"
    series: str = ""  # the soonish-series schedule: "created" or "updated"
    digest: str = ""  # the soonish-digest schedule: "created" or "updated"


def sync_all_schedules() -> ScheduleRepair:
    """Make Temporal match the database: a schedule for every (scheduled event, offset in use,
    its still-coming check included) whose reminder is still ahead, none for anything else, and a running workflow per
    scheduled event (restarted if the server lost it)."""
    scope = ScheduleScope.from_config(current_app.config)
    temporal = gateway()
    existing = temporal.run(lambda client: list_reminder_schedules(client, scope))
    repair = ScheduleRepair()
    events = list(db.session.scalars(select(Event).where(Event.status == EventStatus.SCHEDULED)))
    for event in events:
        have = existing.pop(event.id, set())
        wanted = offsets_in_use(event)
        for offset in sorted(wanted):
            made = temporal.run(lambda client: put_reminder(client, scope, event.id, offset, event.starts_at, utcnow()))
            if made:
                (repair.updated if offset in have else repair.created).append((event.id, offset))
            elif offset in have:
                repair.removed.append((event.id, offset))  # its reminder is already past
        for offset in sorted(have - wanted):
            temporal.run(lambda client: delete_reminder(client, scope, event.id, offset))
            repair.removed.append((event.id, offset))
        # Signal-with-start: restarts the event's workflow if the server lost it.
        temporal.reminders_changed(event_workflow_input(event, current_app.config))
        repair.workflows_ensured += 1
    for event_id, offsets in existing.items():  # events cancelled, over, or gone
        for offset in sorted(offsets):
            temporal.run(lambda client: delete_reminder(client, scope, event_id, offset))
            repair.removed.append((event_id, offset))
    repair.retention = keep_retention_schedule()
    repair.series = keep_series_schedule()
    repair.digest = keep_digest_schedule()
    return repair


def keep_retention_schedule() -> str:
    """Create the ledger retention schedule, or bring it in line with the settings."""
    return gateway().run(RetentionScope.from_config(current_app.config).put)


def keep_series_schedule() -> str:
    """Create the series materialization schedule, or bring it in line with the settings."""
    return gateway().run(SeriesScope.from_config(current_app.config).put)


def keep_digest_schedule() -> str:
    """Create the community digest schedule, or bring it in line with the settings."""
    return gateway().run(DigestScope.from_config(current_app.config).put)
