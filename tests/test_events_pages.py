import pytest
from sqlalchemy import select
from temporalio.client import WorkflowExecutionStatus

from soonish.models import Event, EventStatus, db

from .conftest import csrf_token
from .temporal_helpers import event_handle, query_state, wait_for_status, workflow_status


def form_data(client, path: str, **overrides) -> dict:
    data = {
        "title": "Book club",
        "starts_at": "2031-03-10T19:30",
        "ends_at": "2031-03-10T21:00",
        "timezone": "America/New_York",
        "location": "Library, room 2",
        "description": "Chapter 3 to 5.",
        "visibility": "public",
        "csrf_token": csrf_token(client, path),
    }
    data.update(overrides)
    return data


@pytest.fixture
def organizer(make_user, login):
    user = make_user("host@example.com")
    login(user)
    return user


def only_event(app) -> Event:
    with app.app_context():
        return db.session.scalars(select(Event)).one()


def test_create_edit_cancel_through_the_forms(app, client, organizer, worker, harness, temporal_env):
    response = client.post("/events/new", data=form_data(client, "/events/new"))
    assert response.status_code == 302
    event = only_event(app)
    # 19:30 in New York in March 2031 (EDT, UTC-4) is 23:30 UTC.
    assert event.starts_at.isoformat() == "2031-03-10T23:30:00+00:00"
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "Book club" in page and "Mon 10 Mar 2031, 19:30" in page

    handle = event_handle(app, temporal_env, event.id)
    assert workflow_status(harness, handle) == WorkflowExecutionStatus.RUNNING

    edit_path = f"/events/{event.id}/edit"
    assert 'value="2031-03-10T19:30"' in client.get(edit_path).get_data(as_text=True)
    response = client.post(edit_path, data=form_data(client, edit_path, title="Book club: chapter 6", starts_at="2031-03-11T19:30", ends_at="2031-03-11T21:00"))
    assert response.status_code == 302
    assert query_state(harness, handle).version == 2
    assert only_event(app).title == "Book club: chapter 6"

    response = client.post(f"/events/{event.id}/cancel", data={"csrf_token": csrf_token(client, "/dashboard")})
    assert response.status_code == 302
    assert only_event(app).status == EventStatus.CANCELLED
    wait_for_status(harness, handle, WorkflowExecutionStatus.COMPLETED)


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"title": ""}, "Give the event a title."),
        ({"ends_at": "2031-03-10T18:00"}, "The end must be after the start."),
        ({"timezone": "Nowhere/Land"}, "Unknown time zone"),
        ({"starts_at": "tomorrow-ish"}, "Not a valid datetime value."),
    ],
)
def test_bad_form_input_is_shown_beside_the_field(app, client, organizer, overrides, message):
    response = client.post("/events/new", data=form_data(client, "/events/new", **overrides))
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert message in page and 'aria-invalid="true"' in page
    # What the organizer typed is kept in the form.
    assert "Library, room 2" in page
    with app.app_context():
        assert db.session.query(Event).count() == 0


def test_another_organizer_cannot_edit_or_cancel(app, client, organizer, worker, make_user, login):
    client.post("/events/new", data=form_data(client, "/events/new"))
    event = only_event(app)
    client.post("/logout", data={"csrf_token": csrf_token(client, "/dashboard")})
    login(make_user("other@example.com"))
    assert client.get(f"/events/{event.id}/edit").status_code == 403
    response = client.post(f"/events/{event.id}/cancel", data={"csrf_token": csrf_token(client, "/dashboard")})
    assert response.status_code == 403
    assert only_event(app).status == EventStatus.SCHEDULED


def test_pages_render_for_visitors(client):
    assert "No public events coming up yet" in client.get("/").get_data(as_text=True)
    assert client.get("/e/no-such-event").status_code == 404
    assert client.get("/dashboard").headers["Location"].startswith("/login")
