"""One policy for Temporal being unreachable during a request: the change is committed, the
hand-over is logged, the person sees no error, and the next change (signal-with-start) or
`soonish sync-schedules` repairs it."""
import logging

import pytest

from soonish.models import Event, OutboxItem, OutboxKind, Subscription, SubscriptionStatus, db
from soonish.services.reminders import sync_all_schedules
from soonish.temporal.events.types import event_workflow_id

from .api_helpers import create_event
from .conftest import csrf_token
from .sinks import free_port


@pytest.fixture
def app_config(app_config):
    app_config["TEMPORAL_ADDRESS"] = f"127.0.0.1:{free_port()}"  # nothing listens there
    return app_config


def test_changes_are_saved_and_the_hand_over_logged_while_temporal_is_down(app, client, make_user, bearer, caplog):
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
        # A follow never calls Temporal: its confirm mail waits in the outbox for a worker's drain.
        [waiting] = db.session.query(OutboxItem).all()
        assert waiting.kind == OutboxKind.CONFIRM_MAIL and waiting.done_at is None
    logged = [r.getMessage() for r in caplog.records if "not handed to Temporal" in r.getMessage()]
    assert [m.split(" not handed")[0] for m in logged] == ["event workflow start", "event change"]


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
