"""A reminder a day ahead, on the time-skipping test server: the day passes at once."""
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import update
from temporalio.client import WorkflowExecutionStatus

from soonish.domain.delivery.reminders import due_at
from soonish.models import Event, Notification, NotificationKind, OutboxItem, db, utcnow
from soonish.temporal.events.types import event_workflow_id
from soonish.temporal.reminders.types import ReminderInput, reminder_slot_id
from soonish.temporal.reminders.workflow import ReminderWorkflow
from soonish.web import create_app

from .api_helpers import create_event
from loopback.seeding import seed_subscribers
from loopback.sinks import wait_until


@pytest.fixture
def skipping_app(app_config, time_skipping_env):
    app = create_app({**app_config, "TEMPORAL_ADDRESS": time_skipping_env.client.service_client.config.target_host,
                      "TEMPORAL_NAMESPACE": time_skipping_env.client.namespace})
    with app.app_context():
        db.drop_all()
        db.create_all()
    yield app
    with app.app_context():
        db.engine.dispose()


def test_a_reminder_one_day_ahead_arrives_when_due_and_not_for_an_old_time(
    skipping_app, client, make_user, bearer, http_sink, harness, time_skipping_env
):
    # The event is made through the suite's app (same database, the dev server, no worker).
    organizer = bearer(make_user("host@example.com"))
    starts_at = (datetime.now(timezone.utc) + timedelta(days=2)).replace(microsecond=0)
    event = create_event(client, organizer, title="Summit", starts_at=starts_at.isoformat())
    # Subscribers written directly: this server has no Schedules for the workflow to make.
    seed_subscribers(skipping_app, event["id"], 3, webhook_url=lambda i: http_sink.url(f"/r{i}"))
    prefix = skipping_app.config["TEMPORAL_ID_PREFIX"]
    reminder = ReminderInput(event["id"], 86400, starts_at, event_workflow_id(prefix, event["id"]))
    queue = skipping_app.config["TEMPORAL_TASK_QUEUE"]
    # The event's outbox rows (created, reminders changed) would start its EventWorkflow on this
    # server, which has no Schedules: its reminder sync would fail and retry without end while
    # the days are skipped. The suite's app has no worker to drain them; they are done here.
    with skipping_app.app_context():
        db.session.execute(update(OutboxItem).values(done_at=utcnow()))
        db.session.commit()

    with harness.worker(skipping_app, time_skipping_env.client):
        # What the 1-day schedule starts: it enrolls the reminder in the slot of its due second,
        # which sleeps a day (skipped here while we wait for it) and delivers.
        harness.run(time_skipping_env.client.execute_workflow(
            ReminderWorkflow.run, reminder, id=f"{prefix}reminder-1d", task_queue=queue))
        assert http_sink.delivered() == []
        harness.run(time_skipping_env.sleep(due_at(reminder.starts_at, reminder.offset_seconds) - datetime.now(timezone.utc) + timedelta(seconds=5)))
        wait_until(lambda: len(http_sink.delivered()) == 3, message="the reminder at each subscriber")
        assert {r.body["title"] for r in http_sink.delivered()} == {"Reminder: Summit starts in 1 day"}

        # The event moved after its old-time reminder was scheduled: that one sends nothing.
        with skipping_app.app_context():
            db.session.get(Event, event["id"]).starts_at = starts_at + timedelta(days=3)
            db.session.commit()
        stale = ReminderInput(event["id"], 3600, starts_at, event_workflow_id(prefix, event["id"]))
        harness.run(time_skipping_env.client.execute_workflow(
            ReminderWorkflow.run, stale, id=f"{prefix}reminder-old", task_queue=queue))
        slot = time_skipping_env.client.get_workflow_handle(reminder_slot_id(prefix, due_at(stale.starts_at, stale.offset_seconds)))
        skipped_now = harness.run(time_skipping_env.get_current_time())
        harness.run(time_skipping_env.sleep(due_at(stale.starts_at, stale.offset_seconds) - skipped_now + timedelta(seconds=5)))
        wait_until(lambda: harness.run(slot.describe()).status == WorkflowExecutionStatus.COMPLETED,
                   message="the old-time slot to finish")
        with skipping_app.app_context():
            reminders_made = db.session.query(Notification).filter_by(kind=NotificationKind.REMINDER).count()
        assert reminders_made == 1 and len(http_sink.delivered()) == 3
