"""What an event's workflow is started with (or told) about its event: read from the event's row,
so it lives outside types.py, which the workflow sandbox imports and which knows no models."""
from soonish.models import Event, EventStatus
from soonish.temporal.events.types import EventWorkflowState


def event_workflow_input(event: Event, config) -> EventWorkflowState:
    """What the event's workflow is started with (or told) about its event, under the app's
    ``config``."""
    return EventWorkflowState(
        event_id=event.id,
        version=event.version,
        starts_at=event.starts_at,
        ends_at=event.ends_at,
        cancelled=event.status == EventStatus.CANCELLED,
        update_coalesce_seconds=max(0.0, float(config["UPDATE_COALESCE_SECONDS"])),
    )
