"""The app's Temporal gateway, made once per app from its config."""
from collections.abc import Callable

from flask import current_app

from ..models import Event
from ..temporal.client import TemporalGateway, TemporalSettings, TemporalUnavailable, workflow_input
from ..temporal.shared import EventWorkflowInput


def gateway() -> TemporalGateway:
    extensions = current_app.extensions
    if "soonish.temporal" not in extensions:
        extensions["soonish.temporal"] = TemporalGateway(TemporalSettings.from_config(current_app.config))
    return extensions["soonish.temporal"]


def tell_event_workflow(event: Event, call: Callable[[TemporalGateway, EventWorkflowInput], None],
                        what: str, **log_context) -> None:
    """Signal the event's workflow after the commit. The database is the truth: if Temporal is
    unreachable the change stays recorded and is picked up by the next signal or by
    `soonish sync-schedules` (resending a notification is safe: the ledger), so it is logged,
    never lost and never an error for the user."""
    try:
        call(gateway(), workflow_input(event))
    except TemporalUnavailable as exc:
        current_app.logger.error("%s not signalled: %s", what, exc, extra={"event_id": event.id, **log_context})


def reminders_changed(event: Event) -> None:
    """Ask the event's workflow to bring its reminder schedules in line with the subscriptions."""
    tell_event_workflow(event, lambda temporal, params: temporal.reminders_changed(params), "reminder change")
