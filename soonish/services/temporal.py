"""The app's Temporal gateway, made once per app from its config."""
from flask import current_app

from ..models import Event, EventStatus
from ..temporal.client import TemporalGateway, TemporalSettings, TemporalUnavailable
from ..temporal.shared import EventWorkflowInput


def gateway() -> TemporalGateway:
    extensions = current_app.extensions
    if "soonish.temporal" not in extensions:
        extensions["soonish.temporal"] = TemporalGateway(TemporalSettings.from_config(current_app.config))
    return extensions["soonish.temporal"]


def workflow_input(event: Event) -> EventWorkflowInput:
    """What the event's workflow is started with (or told) about its event."""
    return EventWorkflowInput(
        event_id=event.id,
        version=event.version,
        starts_at=event.starts_at,
        ends_at=event.ends_at,
        cancelled=event.status == EventStatus.CANCELLED,
    )


def reminders_changed(event: Event) -> None:
    """Ask the event's workflow to bring its reminder schedules in line with the subscriptions.
    If Temporal is unreachable the change is kept in the database; the next change, or
    `soonish sync-schedules`, reconciles."""
    try:
        gateway().reminders_changed(workflow_input(event))
    except TemporalUnavailable as exc:
        current_app.logger.error("reminder schedules not synced: %s", exc, extra={"event_id": event.id})
