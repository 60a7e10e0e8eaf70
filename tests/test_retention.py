"""Ledger retention: old deliveries of events that are over are folded into counts and deleted
by the real RetentionWorkflow on a real worker; `soonish retention` and `sync-schedules`."""
from datetime import timedelta

import pytest
from temporalio.client import ScheduleActionStartWorkflow

from soonish.cli import cli
from soonish.models import (
    Delivery, DeliveryStatus, DeliveryTally, Event, EventStatus, Notification, NotificationKind, Subscription,
    User, db, utcnow,
)
from soonish.domain.retention import NEVER_SENT
from soonish.temporal.digest.activities import DigestScope
from soonish.temporal.retention.activities import RetentionScope
from soonish.temporal.retention.types import LedgerPruneRound
from soonish.temporal.retention.workflow import RetentionWorkflow

from .api_helpers import reports


@pytest.fixture
def small_batches(app_config):
    app_config.update(LEDGER_PRUNE_BATCH_SIZE=2, LEDGER_PRUNE_PAUSE_SECONDS=0)


def seed_event(organizer_id: int, title: str, starts_days_ago: float, notified_days_ago: float,
               outcomes: list[tuple[DeliveryStatus, str | None]], status=EventStatus.COMPLETED) -> tuple[int, int]:
    """An event, one notification sent ``notified_days_ago``, and a delivery per outcome."""
    now = utcnow()
    event = Event(organizer_id=organizer_id, slug=f"{title.lower().replace(' ', '-')}", title=title,
                  starts_at=now - timedelta(days=starts_days_ago), status=status)
    db.session.add(event)
    db.session.flush()
    notified = now - timedelta(days=notified_days_ago)
    notification = Notification(event_id=event.id, kind=NotificationKind.ANNOUNCEMENT, title=f"News of {title}",
                                created_at=notified)
    db.session.add(notification)
    db.session.flush()
    for i, (status_, error) in enumerate(outcomes):
        follower = User(email=f"{event.slug}-{i}@example.com")
        subscription = Subscription(event_id=event.id, user=follower)
        db.session.add(subscription)
        db.session.flush()
        db.session.add(Delivery(notification_id=notification.id, subscription_id=subscription.id,
                                target=f"email:{follower.email}", channel="email", status=status_,
                                last_error=error, created_at=notified))
    db.session.commit()
    return event.id, notification.id


OLD_OUTCOMES = [(DeliveryStatus.SENT, None)] * 3 + [(DeliveryStatus.FAILED, "HTTP 500"), (DeliveryStatus.PENDING, None)]


@pytest.fixture
def ledger(app, make_user):
    organizer = make_user("organizer@example.com")
    with app.app_context():
        old = seed_event(organizer.id, "Old meetup", 120, 121, OLD_OUTCOMES)
        cancelled = seed_event(organizer.id, "Cancelled gala", -30, 100, [(DeliveryStatus.SENT, None)],
                               status=EventStatus.CANCELLED)
        recent = seed_event(organizer.id, "Recent meetup", 10, 11, [(DeliveryStatus.SENT, None)] * 2)
        # An event still ahead whose first news went out long ago: not over, so kept.
        ahead = seed_event(organizer.id, "Long campaign", -30, 120, [(DeliveryStatus.SENT, None)],
                           status=EventStatus.SCHEDULED)
    return organizer, old, cancelled, recent, ahead


def deliveries_of(app, notification_id: int) -> int:
    with app.app_context():
        return db.session.query(Delivery).filter_by(notification_id=notification_id).count()


def test_dry_run_reports_what_would_go_and_changes_nothing(app, ledger):
    result = app.test_cli_runner().invoke(cli, ["retention", "--dry-run"])
    assert result.exit_code == 0, result.output
    assert "would fold and delete 6 deliveries of 2 notifications" in result.output
    with app.app_context():
        assert db.session.query(Delivery).count() == 9


def test_retention_command_folds_counts_and_deletes_rows(app, client, bearer, ledger, small_batches):
    organizer, old, cancelled, recent, ahead = ledger
    result = app.test_cli_runner().invoke(cli, ["retention"])
    assert result.exit_code == 0, result.output
    assert "deleted 6 deliveries" in result.output
    assert deliveries_of(app, old[1]) == deliveries_of(app, cancelled[1]) == 0
    assert deliveries_of(app, recent[1]) == 2 and deliveries_of(app, ahead[1]) == 1
    # Organizers keep their figures, in the API and the pages.
    (report,) = reports(client, bearer(organizer), old[0])
    assert report["counts"] == {"sent": 3, "failed": 2, "pending": 0, "skipped": 0, "suppressed": 0}
    assert {f["reason"]: f["count"] for f in report["failures"]} == {"HTTP 500": 1, NEVER_SENT: 1}
    # A second run finds nothing and counts nothing twice.
    again = app.test_cli_runner().invoke(cli, ["retention"])
    assert "deleted 0 deliveries" in again.output
    with app.app_context():
        assert sum(t.count for t in db.session.query(DeliveryTally).filter_by(notification_id=old[1])) == 5


def test_the_retention_workflow_prunes_in_batches_on_the_worker(app, ledger, small_batches, worker, harness,
                                                               temporal_env):
    organizer, old, cancelled, recent, ahead = ledger
    deleted = harness.run(temporal_env.client.execute_workflow(
        RetentionWorkflow.run, LedgerPruneRound(), id=f"{app.config['TEMPORAL_ID_PREFIX']}retention-now",
        task_queue=app.config["TEMPORAL_TASK_QUEUE"],
    ))
    assert deleted == 6
    assert deliveries_of(app, old[1]) == 0 and deliveries_of(app, recent[1]) == 2
    with app.app_context():
        tallies = {(t.status, t.reason): t.count for t in db.session.query(DeliveryTally).filter_by(notification_id=old[1])}
        assert tallies == {(DeliveryStatus.SENT, ""): 3, (DeliveryStatus.FAILED, "HTTP 500"): 1,
                           (DeliveryStatus.FAILED, NEVER_SENT): 1}
        assert db.session.get(Notification, old[1]) is not None  # notifications (and dedupe keys) stay


def test_sync_schedules_creates_and_keeps_the_retention_and_digest_schedules(app, harness, temporal_env):
    runner = app.test_cli_runner()
    first = runner.invoke(cli, ["sync-schedules"])
    assert first.exit_code == 0, first.output
    assert "retention schedule created" in first.output
    handle = temporal_env.client.get_schedule_handle(RetentionScope.from_config(app.config).schedule_id)
    digest_handle = temporal_env.client.get_schedule_handle(DigestScope.from_config(app.config).schedule_id)
    try:
        described = harness.run(handle.describe())
        spec = described.schedule.spec  # the server turns "17 3 * * *" into a calendar
        assert spec.cron_expressions == ["17 3 * * *"] or (
            [r.start for r in spec.calendars[0].hour], [r.start for r in spec.calendars[0].minute]) == ([3], [17])
        action = described.schedule.action
        assert isinstance(action, ScheduleActionStartWorkflow) and action.workflow == "RetentionWorkflow"
        assert action.task_queue == app.config["TEMPORAL_TASK_QUEUE"]
        assert "retention schedule updated" in runner.invoke(cli, ["sync-schedules"]).output
        assert "digest schedule created" in first.output
        digest = harness.run(digest_handle.describe()).schedule.action
        assert isinstance(digest, ScheduleActionStartWorkflow) and digest.workflow == "CommunityDigestWorkflow"
    finally:
        for each in (handle, digest_handle):
            harness.run(each.delete())


def test_folded_reasons_keep_no_host_or_address(app, client, bearer, make_user):
    """Counts outlive the rows and belong to no one, so an erasure could never find them later:
    the reasons they keep name no follower's host or address."""
    organizer = make_user("organizer@example.com")
    with app.app_context():
        event_id, _ = seed_event(organizer.id, "Old party", 120, 121, [
            (DeliveryStatus.FAILED, "http://ann-home.example answered HTTP 410"),
            (DeliveryStatus.FAILED, "http://bob-home.example answered HTTP 410"),
            (DeliveryStatus.FAILED, "the mail server refused cy@example.com"),
        ])
    assert app.test_cli_runner().invoke(cli, ["retention"]).exit_code == 0
    (report,) = reports(client, bearer(organizer), event_id)
    assert {f["reason"]: f["count"] for f in report["failures"]} == {
        "http://[erased host] answered HTTP 410": 2, "the mail server refused [erased address]": 1}
