"""Reminders on real Temporal Schedules (dev server) and, for long waits, on the
time-skipping test server (which has no Schedules: there the ReminderWorkflow is started
as its schedule would start it)."""
import time
from datetime import datetime, timedelta, timezone

import pytest
from soonish.models import Delivery, Event, Notification, NotificationKind, db
from soonish.temporal.reminders.schedules import ScheduleScope
from soonish.temporal.events.types import event_workflow_id
from soonish.temporal.reminders.types import ReminderInput, reminder_schedule_id
from soonish.temporal.reminders.workflow import ReminderWorkflow

from .api_helpers import add_integration, create_event, follow_by_webhook, subscribe
from loopback.seeding import seed_subscribers
from loopback.sinks import wait_until
from .temporal_helpers import schedules_of, wait_for_event_quiet, wait_for_schedules, wait_for_workflows_closed


@pytest.fixture
def organizer(make_user, bearer):
    return bearer(make_user("host@example.com"))


def days_ahead(days: float) -> str:
    return (datetime.now(timezone.utc) + timedelta(days=days)).replace(microsecond=0).isoformat()


def test_schedules_follow_the_offsets_in_use(app, client, make_user, bearer, organizer, worker, harness, temporal_env):
    event = create_event(client, organizer, starts_at=days_ahead(3))
    ada, bob = bearer(make_user("ada@example.com")), bearer(make_user("bob@example.com"))
    ada_sub = subscribe(client, ada, event["id"], reminder_offsets=["1d"])
    bob_sub = subscribe(client, bob, event["id"], reminder_offsets=["1d", "1h"])
    # Two subscribers holding 1d share one schedule: one per distinct offset.
    wait_for_schedules(harness, temporal_env, app, event["id"], {86400, 3600})
    client.patch(f"/api/v1/subscriptions/{bob_sub['id']}", json={"reminder_offsets": ["1d"]}, headers=bob)
    wait_for_schedules(harness, temporal_env, app, event["id"], {86400})
    client.delete(f"/api/v1/subscriptions/{ada_sub['id']}", headers=ada)
    wait_for_event_quiet(harness, temporal_env, app, event["id"])  # the workflow has acted on the change
    assert schedules_of(harness, temporal_env.client, app, event["id"]) == {86400}  # bob still holds it
    client.delete(f"/api/v1/subscriptions/{bob_sub['id']}", headers=bob)
    wait_for_schedules(harness, temporal_env, app, event["id"], set())


def test_moving_the_event_moves_its_schedules_and_cancelling_deletes_them(
    app, client, make_user, bearer, organizer, worker, harness, temporal_env
):
    event = create_event(client, organizer, starts_at=days_ahead(3))
    subscribe(client, bearer(make_user("ada@example.com")), event["id"], reminder_offsets=["1d"])
    wait_for_schedules(harness, temporal_env, app, event["id"], {86400})
    handle = temporal_env.client.get_schedule_handle(reminder_schedule_id(app.config["TEMPORAL_ID_PREFIX"], event["id"], 86400))
    new_start = datetime.fromisoformat(days_ahead(5))
    client.patch(f"/api/v1/events/{event['id']}", json={"starts_at": new_start.isoformat()}, headers=organizer)

    def fires_for_new_start() -> bool:
        described = harness.run(handle.describe())
        next_fire = described.info.next_action_times[0]
        return next_fire == new_start - timedelta(days=1) - timedelta(seconds=app.config["REMINDER_LEAD_SECONDS"])

    wait_until(fires_for_new_start, timeout=20, message="the schedule to move")
    client.post(f"/api/v1/events/{event['id']}/cancel", headers=organizer)
    wait_for_schedules(harness, temporal_env, app, event["id"], set())


@pytest.fixture
def short_lead(app_config):
    """Schedules fire 3 s ahead instead of 2 minutes, so a test sees a real one fire."""
    app_config["REMINDER_LEAD_SECONDS"] = 3
    return app_config


def near_event(client, organizer, due_in: float) -> dict:
    """An event whose 5-minute reminder is due in ``due_in`` seconds."""
    starts_at = datetime.now(timezone.utc) + timedelta(minutes=5, seconds=due_in)
    return create_event(client, organizer, starts_at=starts_at.isoformat())


def reminders(sink, path: str | None = None):
    return [r for r in sink.delivered(path) if r.body["title"].startswith("Reminder:")]


@pytest.mark.slow
def test_a_near_reminder_fires_at_its_offset_and_moving_or_cancelling_before_the_due_time_sends_nothing(
    short_lead, app, client, make_user, bearer, organizer, worker, http_sink, harness, temporal_env
):
    """Three events on one timeline, their 5-minute reminders due together: one kept, one moved
    and one cancelled after their schedules fired and before the due time."""
    # Schedules fire 3 s before the due time; the margins leave a loaded machine room to set up.
    moved = near_event(client, organizer, due_in=25)
    cancelled = near_event(client, organizer, due_in=25)
    kept = near_event(client, organizer, due_in=25)
    due = datetime.fromisoformat(moved["starts_at"]) - timedelta(minutes=5)
    reader = bearer(make_user("reader@example.com"))
    hook = add_integration(client, reader, http_sink.url("/reader"))
    for event in (moved, cancelled):
        subscribe(client, reader, event["id"], reminder_offsets=["5m"], selectors=[{"integration_id": hook["id"]}])
        wait_for_schedules(harness, temporal_env, app, event["id"], {300})
    follow_by_webhook(client, reader, kept["id"], http_sink.url("/kept"), reminder_offsets=["5m"])
    wait_for_schedules(harness, temporal_env, app, kept["id"], {300})
    # Both schedules have fired: their ReminderWorkflows sleep to the due time.
    wait_until(lambda: all(schedule_fired(harness, temporal_env, app, e["id"], 300) for e in (moved, cancelled)),
               timeout=40, message="both reminder schedules firing")
    assert datetime.now(timezone.utc) < due - timedelta(seconds=1), "the set-up ran past the due time"
    client.patch(f"/api/v1/events/{moved['id']}", json={"starts_at": days_ahead(2)}, headers=organizer)
    client.post(f"/api/v1/events/{cancelled['id']}/cancel", headers=organizer)
    # Time passes on purpose: past the old due time, when a reminder that still stood would go.
    time.sleep(max(0.0, (due - datetime.now(timezone.utc)).total_seconds()) + 3)
    assert reminders(http_sink, "/reader") == []
    wait_for_schedules(harness, temporal_env, app, moved["id"], {300})  # for the new time
    wait_for_schedules(harness, temporal_env, app, cancelled["id"], set())

    wait_until(lambda: reminders(http_sink, "/kept"), timeout=30, message="the reminder")
    [received] = reminders(http_sink, "/kept")
    kept_due = datetime.fromisoformat(kept["starts_at"]) - timedelta(minutes=5)
    assert received.body["title"] == "Reminder: Launch party starts in 5 minutes"
    assert kept_due - timedelta(seconds=1) <= received.received_at <= kept_due + timedelta(seconds=5), (
        kept_due, received.received_at)
    assert "Europe/Paris" in received.body["message"]


def schedule_fired(harness, temporal_env, app, event_id: int, offset: int) -> bool:
    scope = ScheduleScope.from_config(app.config)
    handle = temporal_env.client.get_schedule_handle(reminder_schedule_id(scope.id_prefix, event_id, offset))
    return bool(harness.run(handle.describe()).info.recent_actions)


def test_the_same_reminder_fired_twice_is_delivered_once(
    app, client, make_user, bearer, organizer, worker, http_sink, harness, temporal_env
):
    event = create_event(client, organizer, starts_at=(datetime.now(timezone.utc) + timedelta(hours=1, seconds=2)).isoformat())
    seed_subscribers(app, event["id"], 20, webhook_url=lambda i: http_sink.url(f"/r{i}"))
    with app.app_context():
        starts_at = db.session.get(Event, event["id"]).starts_at
    reminder = ReminderInput(event["id"], 3600, starts_at, event_workflow_id(app.config["TEMPORAL_ID_PREFIX"], event["id"]))
    # Two firings of one schedule (a retry, a catch-up, an overlap), both due now.
    handles = [
        harness.run(temporal_env.client.start_workflow(ReminderWorkflow.run, reminder, id=f"dup-{n}-{app.config['TEMPORAL_ID_PREFIX']}",
                                                       task_queue=app.config["TEMPORAL_TASK_QUEUE"]))
        for n in range(2)
    ]
    for handle in handles:
        harness.run(handle.result())  # each enrolled the reminder in its due second's slot
    wait_until(lambda: len(reminders(http_sink)) >= 20, message="the reminder at every subscriber")
    wait_for_workflows_closed(harness, temporal_env.client, app, "ReminderSlotWorkflow")  # nothing more to send
    assert sorted(r.path for r in reminders(http_sink)) == sorted(f"/r{i}" for i in range(20))
    with app.app_context():
        assert db.session.query(Delivery).count() == 20
        assert db.session.query(Notification).filter_by(kind=NotificationKind.REMINDER).count() == 1


def test_a_reminder_goes_only_to_holders_of_its_offset(
    app, client, make_user, bearer, organizer, worker, http_sink, harness, temporal_env
):
    event = create_event(client, organizer, starts_at=(datetime.now(timezone.utc) + timedelta(hours=1, seconds=2)).isoformat())
    holders = [bearer(make_user(f"h{i}@example.com")) for i in range(2)]
    for i, who in enumerate(holders + [bearer(make_user("other@example.com"))]):
        follow_by_webhook(client, who, event["id"], http_sink.url(f"/p{i}"), reminder_offsets=["1h"] if i < 2 else ["1d"])
    with app.app_context():
        starts_at = db.session.get(Event, event["id"]).starts_at
    reminder = ReminderInput(event["id"], 3600, starts_at, event_workflow_id(app.config["TEMPORAL_ID_PREFIX"], event["id"]))
    harness.run(temporal_env.client.execute_workflow(ReminderWorkflow.run, reminder, id=f"r-{app.config['TEMPORAL_ID_PREFIX']}",
                                                     task_queue=app.config["TEMPORAL_TASK_QUEUE"]))
    wait_until(lambda: len(reminders(http_sink)) >= 2)
    wait_for_workflows_closed(harness, temporal_env.client, app, "ReminderSlotWorkflow")  # nothing more to send
    assert sorted(r.path for r in reminders(http_sink)) == ["/p0", "/p1"]


def test_sync_schedules_repairs_a_lost_schedule_and_removes_an_orphan(
    app, client, make_user, bearer, organizer, worker, harness, temporal_env
):
    from soonish.services.temporal import sync_all_schedules
    from soonish.temporal.reminders.schedules import put_reminder

    event = create_event(client, organizer, starts_at=days_ahead(3))
    subscribe(client, bearer(make_user("ada@example.com")), event["id"], reminder_offsets=["1d"])
    wait_for_schedules(harness, temporal_env, app, event["id"], {86400})
    scope = ScheduleScope.from_config(app.config)
    # A restore loses one schedule and leaves one for an event that no longer exists.
    harness.run(temporal_env.client.get_schedule_handle(reminder_schedule_id(scope.id_prefix, event["id"], 86400)).delete())
    harness.run(put_reminder(temporal_env.client, scope, 999, 3600, datetime.fromisoformat(days_ahead(4)), datetime.now(timezone.utc)))
    # Schedules are listed from Temporal's visibility store, which lags a change by a moment;
    # a restore's damage is older than that.
    wait_for_schedules(harness, temporal_env, app, event["id"], set())
    wait_for_schedules(harness, temporal_env, app, 999, {3600})
    with app.app_context():
        repair = sync_all_schedules()
    assert repair.created == [(event["id"], 86400)]
    assert repair.removed == [(999, 3600)]
    assert schedules_of(harness, temporal_env.client, app, event["id"]) == {86400}
    assert schedules_of(harness, temporal_env.client, app, 999) == set()
