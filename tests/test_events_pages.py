from datetime import timedelta

import pytest
from sqlalchemy import select
from temporalio.client import WorkflowExecutionStatus

from soonish.models import Event, EventStatus, Notification, NotificationKind, db, utcnow

from .conftest import csrf_token
from loopback.sinks import wait_until
from .temporal_helpers import event_handle, query_state, wait_for_start, wait_for_status, workflow_status


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
    assert "Book club" in page and "Mon, Mar 10, 2031, 7:30\u202fPM" in page

    handle = event_handle(app, temporal_env, event.id)
    wait_for_start(harness, handle)
    assert workflow_status(harness, handle) == WorkflowExecutionStatus.RUNNING

    edit_path = f"/events/{event.id}/edit"
    assert 'value="2031-03-10T19:30"' in client.get(edit_path).get_data(as_text=True)
    response = client.post(edit_path, data=form_data(client, edit_path, title="Book club: chapter 6", starts_at="2031-03-11T19:30", ends_at="2031-03-11T21:00"))
    assert response.status_code == 302
    wait_until(lambda: query_state(harness, handle).version == 2, message="the workflow told of version 2")
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


HTMX = {"HX-Request": "true"}


def test_same_url_gives_htmx_the_fragment_and_browsers_the_page(client, organizer):
    page = client.get("/dashboard")
    fragment = client.get("/dashboard", headers=HTMX)
    assert "<html" in page.get_data(as_text=True) and "<html" not in fragment.get_data(as_text=True)
    # The page includes the very fragment htmx gets.
    assert fragment.get_data(as_text=True).strip() in page.get_data(as_text=True)
    assert "HX-Request" in fragment.headers["Vary"] and "HX-Request" in page.headers["Vary"]
    missing = client.get("/e/no-such-event", headers=HTMX)
    assert missing.status_code == 404 and "<html" not in missing.get_data(as_text=True)


def test_polling_the_event_page_is_cheap_until_the_event_changes(app, client, organizer):
    client.post("/events/new", data=form_data(client, "/events/new"))
    event = only_event(app)
    path = f"/e/{event.slug}"
    details = client.get(path, headers=HTMX).get_data(as_text=True)
    assert f'hx-get="{path}?since=1"' in details and 'hx-trigger="every 3s"' in details

    unchanged = client.get(f"{path}?since=1", headers=HTMX)
    assert unchanged.status_code == 204 and unchanged.data == b""

    edit_path = f"/events/{event.id}/edit"
    client.post(edit_path, data=form_data(client, edit_path, title="Book club moved"))
    changed = client.get(f"{path}?since=1", headers=HTMX).get_data(as_text=True)
    assert "Book club moved" in changed and "since=2" in changed

    client.post(f"/events/{event.id}/cancel", data={"csrf_token": csrf_token(client, "/dashboard")})
    cancelled = client.get(f"{path}?since=2", headers=HTMX).get_data(as_text=True)
    assert "This event is cancelled." in cancelled
    assert "hx-trigger" not in cancelled  # nothing changes after a cancellation: polling stops


def test_idle_delivery_panels_notice_a_message_sent_from_elsewhere(app, client, organizer):
    """An organizer's open page polls slowly while nothing is being sent, so a broadcast started
    elsewhere (the API, a reminder, another tab) shows up there without a reload."""
    client.post("/events/new", data=form_data(client, "/events/new"))
    event = only_event(app)
    panels = [f"/events/{event.id}/deliveries", "/dashboard"]
    for path in panels:
        idle = client.get(path, headers=HTMX).get_data(as_text=True)
        assert f'hx-get="{path}?since=0" hx-trigger="every 10s"' in idle
        nothing_new = client.get(f"{path}?since=0", headers=HTMX)
        assert nothing_new.status_code == 204 and nothing_new.data == b""

    with app.app_context():  # sent from elsewhere, and already finished (no one to send it to)
        sent = Notification(event_id=event.id, kind=NotificationKind.ANNOUNCEMENT, title="Doors open at 7",
                            created_at=utcnow() - timedelta(minutes=5), settled_at=utcnow() - timedelta(minutes=5))
        db.session.add(sent)
        db.session.commit()
        sent_id = sent.id
    for path in panels:
        fresh = client.get(f"{path}?since=0", headers=HTMX)
        assert fresh.status_code == 200
        assert "Doors open at 7" in fresh.get_data(as_text=True)
        assert f'hx-get="{path}?since={sent_id}" hx-trigger="every 10s"' in fresh.get_data(as_text=True)
        assert client.get(f"{path}?since={sent_id}", headers=HTMX).status_code == 204


def test_changing_a_field_checks_it_without_saving(app, client, organizer):
    data = form_data(client, "/events/new", title="", ends_at="2031-03-10T18:00", check_field="ends_at")
    response = client.post("/events/new", data=data, headers=HTMX)
    assert response.status_code == 200
    fragment = response.get_data(as_text=True)
    assert '<form id="event-form"' in fragment
    assert "The end must be after the start." in fragment
    assert 'aria-describedby="ends_at-hint ends_at-error"' in fragment
    # An empty title the organizer has not reached yet is not flagged while they type...
    assert "Give the event a title." not in fragment
    # ...but is on the field they just left empty.
    data.update(check_field="title", ends_at="")
    fragment = client.post("/events/new", data=data, headers=HTMX).get_data(as_text=True)
    assert "Give the event a title." in fragment and 'id="title-error"' in fragment
    with app.app_context():
        assert db.session.query(Event).count() == 0


def test_htmx_submit_saves_and_redirects_the_whole_page(app, client, organizer):
    token = csrf_token(client, "/events/new")
    data = form_data(client, "/events/new", check_field="")
    del data["csrf_token"]  # htmx sends the token as a header, from the page's body
    response = client.post("/events/new", data=data, headers={**HTMX, "X-CSRFToken": token})
    assert response.status_code == 204
    assert response.headers["HX-Redirect"] == f"/e/{only_event(app).slug}"


def test_cancelling_twice_is_a_message_not_an_error(app, client, organizer):
    client.post("/events/new", data=form_data(client, "/events/new"))
    event = only_event(app)
    for _ in range(2):
        response = client.post(f"/events/{event.id}/cancel", data={"csrf_token": csrf_token(client, "/dashboard")})
        assert response.status_code == 302
    assert only_event(app).status == EventStatus.CANCELLED
