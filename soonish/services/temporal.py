"""The app's Temporal gateway, made once per app from its config, and THE policy for Temporal
being unavailable during a web request or a bot command (``after_commit``).

Every service follows one convention: an operation validates, changes the session, commits
once, and only then hands work to Temporal (start a workflow, signal, send a one-off mail)
through ``after_commit``. Helpers that add to the session (``broadcast.record``) only flush;
the operation that calls them commits.
"""
from collections.abc import Callable

from flask import current_app

from soonish.models import Event
from soonish.temporal.client import TemporalGateway, TemporalSettings, TemporalUnavailable
from soonish.temporal.delivery.types import TransactionalMail
from soonish.temporal.events.input import event_workflow_input
from soonish.temporal.events.types import EventWorkflowInput


def gateway() -> TemporalGateway:
    extensions = current_app.extensions
    if "soonish.temporal" not in extensions:
        extensions["soonish.temporal"] = TemporalGateway(TemporalSettings.from_config(current_app.config))
    return extensions["soonish.temporal"]


def after_commit(call: Callable[[TemporalGateway], None], what: str, **log_context) -> None:
    """Hand committed work to Temporal. The database is the truth: if Temporal is unreachable
    the change stays recorded, the failure is logged, and the user is not shown an error. The
    next change repairs it (every event signal is signal-with-start, so it starts a workflow
    that never started), and so does `soonish sync-schedules` after an outage (it restarts
    every scheduled event's workflow and its reminder schedules; resending a notification is
    safe: the ledger). A one-off mail that was not handed over is sent when the person asks
    again (asks for a new link). A follow's confirm mail, welcome and reminder change never come
    here: they are outbox rows committed with the follow (domain/outbox.py), drained by the worker."""
    try:
        call(gateway())
    except TemporalUnavailable as exc:
        current_app.logger.error("%s not handed to Temporal: %s", what, exc, extra=log_context)


def tell_event_workflow(event: Event, call: Callable[[TemporalGateway, EventWorkflowInput], None],
                        what: str, **log_context) -> None:
    """Signal the event's workflow, after the commit (see ``after_commit``)."""
    after_commit(lambda temporal: call(temporal, event_workflow_input(event, current_app.config)), what,
                 event_id=event.id, **log_context)


def send_one_off_mail(mail: TransactionalMail, what: str) -> None:
    """Start the workflow that sends a one-off mail, after the commit (see ``after_commit``)."""
    after_commit(lambda temporal: temporal.send_transactional_mail(mail), what, mail_kind=mail.kind)


def reminders_changed(event: Event) -> None:
    """Ask the event's workflow to bring its reminder schedules in line with the subscriptions."""
    tell_event_workflow(event, lambda temporal, params: temporal.reminders_changed(params), "reminder change")
