"""The follow path's outbox: a follow commits its subscription with an outbox row and answers
without calling Temporal or the mail server; the worker's drain mails confirm links exactly
once per request and tells event workflows, and a drain that died mid-round loses nothing."""
from datetime import timedelta

import pytest

from soonish.models import OutboxItem, OutboxKind, Subscription, SubscriptionStatus, db, utcnow
from soonish.web import create_app

from .api_helpers import create_event
from loopback.sinks import free_port, wait_until


@pytest.fixture
def event(client, make_user, bearer):
    return create_event(client, bearer(make_user("host@example.com")), title="Book club")


def follow_by_email(client, event, email):
    return client.post(f"/api/v1/events/{event['id']}/subscriptions", json={"email": email})


# The rows a follow leaves (creating the event left one too, that starts its workflow).
FOLLOW_KINDS = (OutboxKind.CONFIRM_MAIL, OutboxKind.NOTIFY, OutboxKind.REMINDERS_CHANGED)


def outbox_rows(app, kinds=FOLLOW_KINDS) -> list[OutboxItem]:
    with app.app_context():
        rows = list(db.session.query(OutboxItem).where(OutboxItem.kind.in_(kinds)).order_by(OutboxItem.id))
        db.session.expunge_all()
        return rows


def all_done(app) -> bool:
    return all(row.done_at is not None for row in outbox_rows(app, list(OutboxKind)))


def test_a_follow_answers_with_temporal_down_and_its_mail_goes_once_a_worker_drains(
        app, app_config, event, smtp_sink, harness, temporal_env):
    # This web process cannot reach Temporal at all: the follow still succeeds, the mail waits.
    down = create_app({**app_config, "TEMPORAL_ADDRESS": f"127.0.0.1:{free_port()}"})
    response = follow_by_email(down.test_client(), event, "reader@example.com")
    assert response.status_code == 202, response.get_json()
    [row] = outbox_rows(app)
    assert row.kind == OutboxKind.CONFIRM_MAIL and row.done_at is None
    assert smtp_sink.messages == []

    # A worker drains it: one confirm mail, the row recorded done.
    with harness.worker(app, temporal_env.client):
        [mail] = smtp_sink.wait_for(1)
        wait_until(lambda: all_done(app), message="outbox row recorded")
    assert mail["X-Envelope-To"] == "reader@example.com"
    assert "Book club" in mail["Subject"]
    assert mail["X-Soonish-Delivery"] == f"soonish-confirm-{row.subject_id}-outbox-{row.id}"


def test_following_again_soon_after_mails_once(app, client, event, smtp_sink, worker):
    # (Two: the per-address rate limit allows three confirm requests an hour.)
    for _ in range(2):
        assert follow_by_email(client, event, "Reader@Example.com").status_code == 202
    wait_until(lambda: all_done(app), message="outbox drained")
    assert len(smtp_sink.wait_for(1)) == 1
    rows = outbox_rows(app)
    assert [row.kind for row in rows] == [OutboxKind.CONFIRM_MAIL]

    # After the repeat window, following again mails a fresh link.
    with app.app_context():
        db.session.query(OutboxItem).update({"created_at": utcnow() - timedelta(hours=1)})
        db.session.commit()
    assert follow_by_email(client, event, "reader@example.com").status_code == 202
    assert len(smtp_sink.wait_for(2)) == 2


def test_a_row_claimed_by_a_drain_that_died_is_sent_when_its_lease_ends(app, client, event, smtp_sink, worker):
    # As a drain killed after claiming leaves it: claimed, attempted once, not done.
    with app.app_context():
        subscription = Subscription(event_id=event["id"], user_id=_user_id(app, "late@example.com"),
                                    status=SubscriptionStatus.PENDING)
        db.session.add(subscription)
        db.session.flush()
        db.session.add(OutboxItem(kind=OutboxKind.CONFIRM_MAIL, event_id=event["id"], subject_id=subscription.id,
                                  attempts=1, claimed_until=utcnow() + timedelta(seconds=2)))
        db.session.commit()
    [mail] = smtp_sink.wait_for(1, timeout=30)
    assert mail["X-Envelope-To"] == "late@example.com"
    wait_until(lambda: all_done(app), message="row recorded done")
    assert outbox_rows(app)[0].attempts == 2


def test_a_follow_that_left_before_the_drain_got_to_it_is_not_mailed(
        app, client, event, smtp_sink, harness, temporal_env):
    # No worker yet: the follow is pending with its confirm mail in the outbox; then it leaves.
    assert follow_by_email(client, event, "quick@example.com").status_code == 202
    with app.app_context():
        db.session.query(Subscription).update({"status": SubscriptionStatus.UNSUBSCRIBED})
        db.session.commit()
    with harness.worker(app, temporal_env.client):
        wait_until(lambda: all_done(app), message="outbox row recorded")
    assert smtp_sink.messages == []


def test_account_follow_hands_welcome_and_reminder_change_to_the_workflow_through_the_outbox(
        app, client, event, make_user, bearer, smtp_sink, worker):
    headers = bearer(make_user("member@example.com"))
    response = client.post(f"/api/v1/events/{event['id']}/subscriptions", headers=headers, json={})
    assert response.status_code == 201
    kinds = {row.kind for row in outbox_rows(app)}
    assert kinds == {OutboxKind.NOTIFY, OutboxKind.REMINDERS_CHANGED}
    [welcome] = smtp_sink.wait_for(1)
    assert welcome["Subject"] == "You're following Book club"
    wait_until(lambda: all_done(app), message="outbox drained")


def _user_id(app, email: str) -> int:
    from soonish.models import User

    user = User(email=email)
    db.session.add(user)
    db.session.flush()
    return user.id
