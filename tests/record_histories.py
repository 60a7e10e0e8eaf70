"""Records the histories that tests/test_replay.py replays: representative runs of every
long-lived workflow on a real dev server and worker, saved to tests/histories/*.json.

Not part of the suite (pytest only collects test_*.py); run it on purpose:

    .venv/bin/pytest -q tests/record_histories.py

Record from the workflow code that is deployed (main), and commit the files: they stand for
the runs in flight when the next change ships. Re-record only to add a shape of run, never to
make a failing replay pass (that failure is a running workflow that would break).
"""
import dataclasses
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from soonish.domain.delivery.reminders import due_at
from soonish.models import Event, Subscription, db
from soonish.temporal.delivery.types import TransactionalMail
from soonish.temporal.events.types import event_workflow_id
from soonish.temporal.reminders.types import REMINDER_PLAN_AHEAD, ReminderInput, reminder_slot_id
from soonish.temporal.delivery.workflow import TransactionalMailWorkflow
from soonish.temporal.reminders.workflow import ReminderWorkflow

from .api_helpers import announce, create_event, follow_by_webhook
from .conftest import csrf_token
from loopback.sinks import wait_until
from .temporal_helpers import event_handle, wait_for_start

HISTORIES = Path(__file__).with_name("histories")


def save(harness, handle, name: str) -> None:
    harness.run(handle.result(), timeout=120)
    history = harness.run(handle.fetch_history())
    HISTORIES.mkdir(exist_ok=True)
    (HISTORIES / f"{name}.json").write_text(history.to_json())


def soon(seconds: float) -> str:
    return (datetime.now(timezone.utc) + timedelta(seconds=seconds)).replace(microsecond=0).isoformat()


def test_record_event_workflow_cancelled(app, client, make_user, bearer, worker, harness, temporal_env, http_sink):
    """Subscribe (reminder sync), announce (fan-out), edit (update), cancel."""
    organizer = bearer(make_user("host@example.com"))
    event = create_event(client, organizer, starts_at=soon(7 * 86400))
    follow_by_webhook(client, bearer(make_user("ada@example.com")), event["id"], http_sink.url("/ada"),
                      reminder_offsets=["1d", "1h"])
    announce(client, organizer, event["id"], "Doors open at 7")
    wait_until(lambda: len(http_sink.received) >= 2, message="welcome and announcement")
    client.patch(f"/api/v1/events/{event['id']}", json={"location": "Library"}, headers=organizer)
    wait_until(lambda: len(http_sink.received) >= 3, message="the update")
    client.post(f"/api/v1/events/{event['id']}/cancel", headers=organizer)
    save(harness, event_handle(app, temporal_env, event["id"]), "event_workflow_cancelled")


@pytest.fixture
def coalescing(app_config):
    app_config["UPDATE_COALESCE_SECONDS"] = 3


def test_record_event_workflow_coalesced(coalescing, app, client, make_user, bearer, worker, harness, temporal_env,
                                         http_sink):
    """Coalescing updates: two edits in one window become one update; an edit held when the
    event is cancelled is dropped."""
    organizer = bearer(make_user("host@example.com"))
    event = create_event(client, organizer, starts_at=soon(7 * 86400))
    follow_by_webhook(client, bearer(make_user("ada@example.com")), event["id"], http_sink.url("/ada"))
    wait_until(lambda: len(http_sink.received) >= 1, message="the welcome")
    client.patch(f"/api/v1/events/{event['id']}", json={"location": "Library"}, headers=organizer)
    client.patch(f"/api/v1/events/{event['id']}", json={"location": "Town hall"}, headers=organizer)
    wait_until(lambda: len(http_sink.received) >= 2, message="the coalesced update")
    client.patch(f"/api/v1/events/{event['id']}", json={"location": "Park"}, headers=organizer)
    client.post(f"/api/v1/events/{event['id']}/cancel", headers=organizer)
    save(harness, event_handle(app, temporal_env, event["id"]), "event_workflow_coalesced")


def test_record_event_workflow_completed(app, client, make_user, bearer, worker, harness, temporal_env, http_sink):
    """An event that starts a few seconds from now: the workflow waits for it, then completes it."""
    organizer = bearer(make_user("host@example.com"))
    event = create_event(client, organizer, starts_at=soon(8))
    follow_by_webhook(client, bearer(make_user("ada@example.com")), event["id"], http_sink.url("/ada"))
    save(harness, event_handle(app, temporal_env, event["id"]), "event_workflow_completed")


def test_record_event_workflow_continued_as_new(app, client, make_user, bearer, worker, harness, temporal_env,
                                               http_sink, monkeypatch):
    """A run past its history limit (lowered to 20 events) hands its whole state to the next,
    which completes the event: the run that continued as new, and the run it handed on to."""
    from soonish.temporal.outbox import drain

    started_with = drain.event_workflow_input
    monkeypatch.setattr(drain, "event_workflow_input", lambda event, config: dataclasses.replace(
        started_with(event, config), continue_after_history_events=20))
    organizer = bearer(make_user("host@example.com"))
    event = create_event(client, organizer, starts_at=soon(8))
    follow_by_webhook(client, bearer(make_user("ada@example.com")), event["id"], http_sink.url("/ada"))
    handle = event_handle(app, temporal_env, event["id"])
    wait_for_start(harness, handle)
    save(harness, handle, "event_workflow_continued")
    last = harness.run(handle.fetch_history()).events[0].workflow_execution_started_event_attributes
    assert last.continued_execution_run_id, "the event's workflow did not continue as new"
    handed_on = temporal_env.client.get_workflow_handle(handle.id, run_id=last.continued_execution_run_id)
    save(harness, handed_on, "event_workflow_continued_as_new")
    assert len(http_sink.delivered("/ada")) == 1


def test_record_event_workflow_with_retries_beside(app, client, make_user, bearer, worker, harness, temporal_env,
                                                  http_sink):
    """A welcome the webhook refuses once: its first attempt, then its retry in a
    DeliveryRetriesWorkflow of its own while the event goes on; the event then completes."""
    http_sink.failing = range(1, 2)
    organizer = bearer(make_user("host@example.com"))
    event = create_event(client, organizer, starts_at=soon(8))
    follow_by_webhook(client, bearer(make_user("ada@example.com")), event["id"], http_sink.url("/ada"))
    handle = event_handle(app, temporal_env, event["id"])
    save(harness, handle, "event_workflow_retries_beside")
    started = [e.start_child_workflow_execution_initiated_event_attributes.workflow_id
               for e in harness.run(handle.fetch_history()).events
               if e.HasField("start_child_workflow_execution_initiated_event_attributes")]
    assert len(started) == 1
    child_id = started[0]
    save(harness, temporal_env.client.get_workflow_handle(child_id), "delivery_retries_workflow")
    assert len(http_sink.delivered("/ada")) == 1


def test_record_reminder_and_slot_workflows(app, client, make_user, bearer, worker, harness, temporal_env, http_sink):
    """A reminder as its schedule starts it, and the slot of its due second delivering it."""
    organizer = bearer(make_user("host@example.com"))
    lead = REMINDER_PLAN_AHEAD.total_seconds() + 5
    event = create_event(client, organizer, starts_at=soon(300 + lead))
    follow_by_webhook(client, bearer(make_user("ada@example.com")), event["id"], http_sink.url("/ada"),
                      reminder_offsets=["5m"])
    with app.app_context():
        starts_at = db.session.get(Event, event["id"]).starts_at
    prefix = app.config["TEMPORAL_ID_PREFIX"]
    reminder = ReminderInput(event["id"], 300, starts_at, event_workflow_id(prefix, event["id"]))
    handle = harness.run(temporal_env.client.start_workflow(
        ReminderWorkflow.run, reminder, id=f"{prefix}event-{event['id']}-reminder-300s",
        task_queue=app.config["TEMPORAL_TASK_QUEUE"],
    ))
    save(harness, handle, "reminder_workflow")
    slot = temporal_env.client.get_workflow_handle(reminder_slot_id(prefix, due_at(reminder.starts_at, reminder.offset_seconds)))
    save(harness, slot, "reminder_slot_workflow")
    assert any(r.path == "/ada" and r.body["title"].startswith("Reminder:") for r in http_sink.received)


def test_record_reminder_slot_sending_early(app, client, make_user, bearer, worker, harness, temporal_env, http_sink):
    """A slot of today's shape: it counts its sends as the reminder enrolls, plans, sends."""
    organizer = bearer(make_user("host@example.com"))
    lead = REMINDER_PLAN_AHEAD.total_seconds() + 5
    event = create_event(client, organizer, starts_at=soon(300 + lead))
    follow_by_webhook(client, bearer(make_user("ada@example.com")), event["id"], http_sink.url("/ada"),
                      reminder_offsets=["5m"])
    with app.app_context():
        starts_at = db.session.get(Event, event["id"]).starts_at
    prefix = app.config["TEMPORAL_ID_PREFIX"]
    reminder = ReminderInput(event["id"], 300, starts_at, event_workflow_id(prefix, event["id"]))
    harness.run(temporal_env.client.execute_workflow(
        ReminderWorkflow.run, reminder, id=f"{prefix}event-{event['id']}-reminder-300s",
        task_queue=app.config["TEMPORAL_TASK_QUEUE"],
    ))
    slot = temporal_env.client.get_workflow_handle(reminder_slot_id(prefix, due_at(reminder.starts_at, reminder.offset_seconds)))
    save(harness, slot, "reminder_slot_workflow_sending_early")
    assert any(r.path == "/ada" and r.body["title"].startswith("Reminder:") for r in http_sink.received)


def test_record_transactional_mail_workflow(app, client, make_user, bearer, worker, harness, temporal_env, smtp_sink):
    event = create_event(client, bearer(make_user("host@example.com")))
    page = f"/e/{event['slug']}"
    client.post(f"{page}/subscribe", data={"email": "reader@example.com", "csrf_token": csrf_token(client, page)})
    smtp_sink.wait_for(1)
    smtp_sink.clear()
    with app.app_context():
        subscription_id = db.session.query(Subscription).one().id
    handle = harness.run(temporal_env.client.start_workflow(
        TransactionalMailWorkflow.run, TransactionalMail("confirm", subscription_id),
        id=f"{app.config['TEMPORAL_ID_PREFIX']}mail-confirm-{subscription_id}-recorded",
        task_queue=app.config["TEMPORAL_TASK_QUEUE"],
    ))
    save(harness, handle, "transactional_mail_workflow")
    assert smtp_sink.wait_for(1)


def test_record_retention_workflow(app, worker, harness, temporal_env):
    """A prune with nothing old enough to go: one round, done."""
    from soonish.temporal.retention.types import LedgerPruneRound
    from soonish.temporal.retention.workflow import RetentionWorkflow

    handle = harness.run(temporal_env.client.start_workflow(
        RetentionWorkflow.run, LedgerPruneRound(), id=f"{app.config['TEMPORAL_ID_PREFIX']}retention-recorded",
        task_queue=app.config["TEMPORAL_TASK_QUEUE"],
    ))
    save(harness, handle, "retention_workflow")


def test_record_webhook_delivery_workflow(app, client, make_user, bearer, worker, harness, temporal_env, http_sink):
    """An outgoing webhook the endpoint refuses once, then takes: an attempt, a backoff, an attempt."""
    from soonish.models import WebhookMessage

    app.config.update(WEBHOOK_FIRST_RETRY_SECONDS=1, WEBHOOK_MAX_RETRY_SECONDS=2)
    http_sink.failing = range(1, 2)
    organizer = bearer(make_user("host@example.com"))
    response = client.post("/api/v1/webhook-endpoints", headers=organizer,
                           json={"url": http_sink.url("/hook", scheme="http"), "event_types": ["event.updated"]})
    assert response.status_code == 201, response.get_json()
    event = create_event(client, organizer)
    client.patch(f"/api/v1/events/{event['id']}", json={"location": "Library"}, headers=organizer)
    wait_until(lambda: len(http_sink.delivered("/hook")) == 1, timeout=30, message="the webhook, after one refusal")
    with app.app_context():
        message_id = db.session.query(WebhookMessage).one().id
    prefix = app.config["TEMPORAL_ID_PREFIX"]
    found = harness.run(temporal_env.client.list_workflows(f"WorkflowId STARTS_WITH '{prefix}webhook-{message_id}-'").__anext__())
    save(harness, temporal_env.client.get_workflow_handle(found.id), "webhook_delivery_workflow")


def test_record_waitlist_offer_workflow(app, client, make_user, bearer, worker, harness, temporal_env,
                                        smtp_sink):
    """A full event's freed place offered to the first on the waitlist, who lets the offer run
    out: the offer mail, the wait, the expiry (the place passes on)."""
    from soonish.models import Rsvp, RsvpAnswer
    from soonish.temporal.waitlist.types import WaitlistOffer, offer_workflow_id

    app.config["RSVP_OFFER_SECONDS"] = 3
    organizer = bearer(make_user("host@example.com"))
    event = create_event(client, organizer, title="Tasting")
    client.put(f"/api/v1/events/{event['id']}/rsvp-settings", json={"capacity": 1}, headers=organizer)
    ann, bob = bearer(make_user("ann@example.com")), bearer(make_user("bob@example.com"))
    for who in (ann, bob):
        client.put(f"/api/v1/events/{event['id']}/rsvp", json={"answer": "going"}, headers=who)
    client.put(f"/api/v1/events/{event['id']}/rsvp", json={"answer": "no"}, headers=ann)
    with app.app_context():
        rsvp = db.session.query(Rsvp).filter_by(answer=RsvpAnswer.WAITLISTED).one()
        offer = WaitlistOffer(rsvp.id, rsvp.offer_expires_at)
    handle = temporal_env.client.get_workflow_handle(offer_workflow_id(app.config["TEMPORAL_ID_PREFIX"], offer))
    save(harness, handle, "waitlist_offer_workflow")
    assert any("A place opened up" in m["Subject"] for m in smtp_sink.messages)


def test_record_series_materialize_workflow(app, client, make_user, bearer, worker, harness, temporal_env):
    """The daily run over one series with an occurrence still to make: one round, done."""
    from soonish.temporal.series.types import SeriesRound
    from soonish.temporal.series.workflow import SeriesMaterializeWorkflow

    app.config["SERIES_HORIZON_DAYS"] = 3
    organizer = bearer(make_user("host@example.com"))
    response = client.post("/api/v1/series", headers=organizer, json={
        "title": "Standup", "starts_at": soon(86400), "rrule": "FREQ=WEEKLY;COUNT=3", "timezone": "Europe/Paris"})
    assert response.status_code == 201, response.get_json()
    app.config["SERIES_HORIZON_DAYS"] = 56
    handle = harness.run(temporal_env.client.start_workflow(
        SeriesMaterializeWorkflow.run, SeriesRound(), id=f"{app.config['TEMPORAL_ID_PREFIX']}series-recorded",
        task_queue=app.config["TEMPORAL_TASK_QUEUE"],
    ))
    save(harness, handle, "series_materialize_workflow")


def test_record_community_digest_workflow(app, worker, harness, temporal_env):
    """The daily digest run on a day no community has anything to mail: one round, done."""
    from soonish.temporal.digest.types import DigestRound
    from soonish.temporal.digest.workflow import CommunityDigestWorkflow

    handle = harness.run(temporal_env.client.start_workflow(
        CommunityDigestWorkflow.run, DigestRound(), id=f"{app.config['TEMPORAL_ID_PREFIX']}digest-recorded",
        task_queue=app.config["TEMPORAL_TASK_QUEUE"],
    ))
    save(harness, handle, "community_digest_workflow")
