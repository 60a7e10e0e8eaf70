from datetime import datetime, timedelta, timezone

import pytest
from temporalio.client import WorkflowExecutionStatus
from temporalio.service import RPCError

from soonish.models import Event, EventStatus, db

from loopback.sinks import wait_until
from .temporal_helpers import event_handle, query_state, wait_for_status, workflow_status

RUNNING = WorkflowExecutionStatus.RUNNING
COMPLETED = WorkflowExecutionStatus.COMPLETED


def future(days: float = 7) -> str:
    return (datetime.now(timezone.utc) + timedelta(days=days)).replace(microsecond=0).isoformat()


def event_body(**overrides) -> dict:
    body = {
        "title": "Launch party",
        "starts_at": future(7),
        "ends_at": future(7.1),
        "timezone": "Europe/Paris",
        "location": "Atelier, 12 rue Oberkampf",
        "visibility": "public",
    }
    body.update(overrides)
    return body


@pytest.fixture
def organizer(make_user):
    return make_user("organizer@example.com")


@pytest.fixture
def created(app, client, organizer, bearer, worker, harness, temporal_env):
    response = client.post("/api/v1/events", json=event_body(), headers=bearer(organizer))
    assert response.status_code == 201, response.get_json()
    # The workflow is started by the outbox drain a moment after the commit (issue 23.2).
    handle = event_handle(app, temporal_env, response.get_json()["id"])
    wait_until(lambda: _described(harness, handle), message="the event's workflow started")
    return response.get_json()


def _described(harness, handle) -> bool:
    try:
        harness.run(handle.describe())
    except RPCError:
        return False
    return True


def test_create_by_api_starts_the_event_workflow(app, harness, temporal_env, created):
    assert created["status"] == "scheduled" and created["version"] == 1
    assert created["url"].endswith(f"/e/{created['slug']}")
    handle = event_handle(app, temporal_env, created["id"])
    assert workflow_status(harness, handle) == RUNNING
    state = query_state(harness, handle)
    assert state.event_id == created["id"] and state.version == 1


def test_edit_signals_the_workflow_with_the_new_version(app, client, harness, temporal_env, organizer, bearer, created):
    new_start = future(10)
    response = client.patch(
        f"/api/v1/events/{created['id']}",
        json={"starts_at": new_start, "ends_at": future(10.1), "title": "Launch party (moved)"},
        headers=bearer(organizer),
    )
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["version"] == 2
    # The drain signals the new version a moment after the commit.
    handle = event_handle(app, temporal_env, created["id"])
    wait_until(lambda: query_state(harness, handle).version == 2, message="the workflow told of version 2")
    assert query_state(harness, handle).starts_at == datetime.fromisoformat(new_start)


def test_cancel_completes_the_workflow(app, client, harness, temporal_env, organizer, bearer, created):
    response = client.post(f"/api/v1/events/{created['id']}/cancel", headers=bearer(organizer))
    assert response.status_code == 200
    assert response.get_json()["status"] == "cancelled"
    handle = event_handle(app, temporal_env, created["id"])
    wait_for_status(harness, handle, COMPLETED)
    assert harness.run(handle.result()) == "cancelled"


def test_workflow_ends_by_itself_after_the_event_ends(app, client, harness, temporal_env, organizer, bearer, worker):
    soon = datetime.now(timezone.utc) + timedelta(seconds=1)
    response = client.post(
        "/api/v1/events",
        json=event_body(starts_at=soon.isoformat(), ends_at=(soon + timedelta(seconds=1)).isoformat()),
        headers=bearer(organizer),
    )
    event_id = response.get_json()["id"]
    handle = event_handle(app, temporal_env, event_id)
    wait_until(lambda: _described(harness, handle), message="the event's workflow started")
    wait_for_status(harness, handle, COMPLETED)
    assert harness.run(handle.result()) == "completed"
    with app.app_context():
        assert db.session.get(Event, event_id).status == EventStatus.COMPLETED


def test_another_user_gets_403_on_edit_and_cancel(app, client, make_user, bearer, created, harness, temporal_env):
    intruder = bearer(make_user("intruder@example.com"))
    patch = client.patch(f"/api/v1/events/{created['id']}", json={"title": "Mine now"}, headers=intruder)
    cancel = client.post(f"/api/v1/events/{created['id']}/cancel", headers=intruder)
    assert patch.status_code == 403 and patch.get_json()["error"]["code"] == "forbidden"
    assert cancel.status_code == 403
    with app.app_context():
        event = db.session.get(Event, created["id"])
        assert event.title == "Launch party" and event.status == EventStatus.SCHEDULED
    assert query_state(harness, event_handle(app, temporal_env, created["id"])).version == 1


def test_private_event_is_404_to_others_and_visible_to_its_organizer(client, organizer, make_user, bearer, worker):
    response = client.post("/api/v1/events", json=event_body(visibility="private"), headers=bearer(organizer))
    event = response.get_json()
    stranger = bearer(make_user("stranger@example.com"))
    assert client.get(f"/api/v1/events/{event['id']}", headers=stranger).status_code == 404
    assert client.get(f"/api/v1/events/{event['id']}").status_code == 404
    assert client.patch(f"/api/v1/events/{event['id']}", json={"title": "x"}, headers=stranger).status_code == 404
    assert client.get(f"/e/{event['slug']}").status_code == 404
    assert client.get(f"/api/v1/events/{event['id']}", headers=bearer(organizer)).status_code == 200
    listed = [e["id"] for e in client.get("/api/v1/events").get_json()["items"]]
    assert event["id"] not in listed


def test_unlisted_event_is_reachable_by_link_but_not_listed(client, organizer, bearer, worker):
    event = client.post("/api/v1/events", json=event_body(visibility="unlisted"), headers=bearer(organizer)).get_json()
    assert client.get(f"/e/{event['slug']}").status_code == 200
    assert event["id"] not in [e["id"] for e in client.get("/api/v1/events").get_json()["items"]]


@pytest.mark.parametrize(
    "overrides, field",
    [
        ({"starts_at": future(7), "ends_at": future(6)}, "ends_at"),
        ({"timezone": "Mars/Olympus_Mons"}, "timezone"),
        ({"timezone": "../../etc/passwd"}, "timezone"),
        ({"title": "   "}, "title"),
        ({"title": 42}, "title"),
        ({"starts_at": "next tuesday"}, "starts_at"),
        ({"starts_at": 1234}, "starts_at"),
        ({"visibility": "secret"}, "visibility"),
        ({"ends_at": ["2030-01-01"]}, "ends_at"),
    ],
)
def test_bad_event_input_names_the_field(app, client, organizer, bearer, overrides, field):
    response = client.post("/api/v1/events", json=event_body(**overrides), headers=bearer(organizer))
    assert response.status_code == 422, response.get_json()
    error = response.get_json()["error"]
    assert field in error["fields"], error
    assert error["message"]
    with app.app_context():
        assert db.session.query(Event).count() == 0


def test_missing_title_is_422(client, organizer, bearer):
    body = event_body()
    del body["title"]
    response = client.post("/api/v1/events", json=body, headers=bearer(organizer))
    assert response.status_code == 422
    assert "title" in response.get_json()["error"]["fields"]


def test_bad_edit_names_the_field_and_keeps_the_event(app, client, organizer, bearer, created):
    response = client.patch(
        f"/api/v1/events/{created['id']}", json={"ends_at": "2000-01-01T00:00:00Z"}, headers=bearer(organizer)
    )
    assert response.status_code == 422
    assert "ends_at" in response.get_json()["error"]["fields"]
    with app.app_context():
        assert db.session.get(Event, created["id"]).version == 1


def test_malformed_json_is_400_naming_the_body(client, organizer, bearer):
    response = client.post(
        "/api/v1/events",
        data="{not json",
        headers={**bearer(organizer), "Content-Type": "application/json"},
    )
    assert response.status_code == 400
    error = response.get_json()["error"]
    assert "json" in error["fields"] and "JSON" in error["message"]


def test_unknown_event_is_json_404(client):
    response = client.get("/api/v1/events/999999")
    assert response.status_code == 404
    assert response.get_json()["error"]["code"] == "not_found"


def test_an_id_too_large_for_the_database_is_a_404_not_a_500(client):
    response = client.get(f"/api/v1/events/{2**63}")
    assert response.status_code == 404 and response.get_json()["error"]["code"] == "not_found"


def test_editing_a_cancelled_event_is_a_409_conflict(client, organizer, bearer, created):
    client.post(f"/api/v1/events/{created['id']}/cancel", headers=bearer(organizer))
    response = client.patch(f"/api/v1/events/{created['id']}", json={"title": "Again"}, headers=bearer(organizer))
    assert response.status_code == 409
    assert response.get_json()["error"]["fields"] == {"status": ["cancelled"]}
