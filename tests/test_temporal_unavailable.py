"""Temporal being unreachable during a request: no request talks to it (every effect is an
outbox row committed with its change), so the person sees no error and the effects wait for a
worker's drain; `soonish sync-schedules` repairs what a lost server forgot."""
import logging

import pytest

from soonish.models import Event, OutboxItem, OutboxKind, Subscription, SubscriptionStatus, db
from soonish.services.temporal import sync_all_schedules
from soonish.temporal.events.types import event_workflow_id

from .api_helpers import create_event
from .conftest import csrf_token
from loopback.sinks import free_port


@pytest.fixture
def app_config(app_config):
    app_config["TEMPORAL_ADDRESS"] = f"127.0.0.1:{free_port()}"  # nothing listens there
    return app_config


def test_changes_are_saved_and_their_effects_wait_in_the_outbox_while_temporal_is_down(
        app, client, make_user, bearer, caplog):
    organizer = bearer(make_user("host@example.com"))
    with caplog.at_level(logging.ERROR, logger="soonish"):
        event = create_event(client, organizer, title="Book club")
        page = f"/e/{event['slug']}"
        followed = client.post(f"{page}/subscribe", data={"email": "reader@example.com",
                                                          "csrf_token": csrf_token(client, page)})
        patched = client.patch(f"/api/v1/events/{event['id']}", json={"location": "Library"}, headers=organizer)
    assert followed.status_code == 302
    assert patched.status_code == 200
    with app.app_context():
        assert db.session.get(Event, event["id"]).location == "Library"
        assert db.session.query(Subscription).one().status == SubscriptionStatus.PENDING
        # No request calls Temporal: the workflow's start, the confirm mail and the change wait
        # in the outbox for a worker's drain.
        waiting = db.session.query(OutboxItem).order_by(OutboxItem.id).all()
        assert [row.kind for row in waiting] == [OutboxKind.EVENT_CREATED, OutboxKind.CONFIRM_MAIL,
                                                 OutboxKind.EVENT_UPDATED]
        assert all(row.done_at is None for row in waiting)
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []


def test_sync_schedules_starts_the_workflow_an_outage_left_unstarted(
    app_config, app, client, make_user, bearer, harness, temporal_env
):
    event = create_event(client, bearer(make_user("host@example.com")))  # Temporal unreachable
    app.config["TEMPORAL_ADDRESS"] = temporal_env.client.service_client.config.target_host  # it is back
    app.extensions.pop("soonish.temporal", None)
    with app.app_context():
        assert sync_all_schedules().workflows_ensured == 1
    handle = temporal_env.client.get_workflow_handle(event_workflow_id(app.config["TEMPORAL_ID_PREFIX"], event["id"]))
    assert harness.run(handle.describe()).status.name == "RUNNING"
