"""The app's Temporal gateway, made once per app from its config."""
from flask import current_app

from ..models import Event, EventStatus
from ..temporal.client import TemporalGateway, TemporalSettings
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
