"""Event times and sizes the API and the forms refuse: instants out of range (a 422 naming the
field, never a 500), starts in the past, descriptions past the documented cap."""
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import select

from soonish.models import Event, db, utcnow
from soonish.field_limits import EVENT_DESCRIPTION_MAX

from .api_helpers import create_event, future_iso
from .conftest import csrf_token

HTMX = {"HX-Request": "true"}


@pytest.fixture
def organizer(make_user):
    return make_user("organizer@example.com")


def refused_field(response, field: str) -> str:
    """The API's message for ``field`` of a 422."""
    assert response.status_code == 422, response.get_json()
    return " ".join(response.get_json()["error"]["fields"][field])


def event_count(app) -> int:
    with app.app_context():
        return db.session.query(Event).count()


OUT_OF_RANGE = [
    ({"starts_at": "0001-01-01T00:00", "timezone": "Asia/Tokyo"}, "starts_at"),
    ({"starts_at": "9999-12-31T23:59:59-23:00"}, "starts_at"),
    ({"starts_at": "0001-01-01T00:00:00+14:00"}, "starts_at"),
    # Valid in UTC, but the event page would show it in Tokyo, past year 9999.
    ({"starts_at": "9999-12-31T20:00:00+00:00", "timezone": "Asia/Tokyo"}, "starts_at"),
    ({"starts_at": future_iso(7), "ends_at": "9999-12-31T23:59:59-23:00"}, "ends_at"),
    ({"starts_at": future_iso(7), "ends_at": "9999-12-31T20:00", "timezone": "Pacific/Kiritimati"}, "ends_at"),
]


@pytest.mark.parametrize("fields, field", OUT_OF_RANGE)
def test_api_create_refuses_out_of_range_instants_naming_the_field(app, client, organizer, bearer, fields, field):
    response = client.post("/api/v1/events", json={"title": "x", **fields}, headers=bearer(organizer))
    assert refused_field(response, field)
    assert event_count(app) == 0


@pytest.mark.parametrize("fields, field", OUT_OF_RANGE)
def test_api_edit_refuses_out_of_range_instants_naming_the_field(client, organizer, bearer, fields, field):
    event = create_event(client, bearer(organizer))
    response = client.patch(f"/api/v1/events/{event['id']}", json=fields, headers=bearer(organizer))
    assert refused_field(response, field)
    assert client.get(f"/api/v1/events/{event['id']}").get_json()["starts_at"] == event["starts_at"]


def test_a_start_more_than_ten_years_ahead_is_refused(client, organizer, bearer):
    too_far = (datetime.now(timezone.utc) + timedelta(days=11 * 366)).isoformat()
    response = client.post("/api/v1/events", json={"title": "x", "starts_at": too_far}, headers=bearer(organizer))
    assert "10 years" in refused_field(response, "starts_at")


def test_api_refuses_a_start_in_the_past(app, client, organizer, bearer):
    a_year_ago = (datetime.now(timezone.utc) - timedelta(days=365)).isoformat()
    response = client.post("/api/v1/events", json={"title": "x", "starts_at": a_year_ago}, headers=bearer(organizer))
    assert "in the past" in refused_field(response, "starts_at")
    assert event_count(app) == 0

    event = create_event(client, bearer(organizer))
    response = client.patch(f"/api/v1/events/{event['id']}", json={"starts_at": a_year_ago}, headers=bearer(organizer))
    assert "in the past" in refused_field(response, "starts_at")


def has_started(app, event_id: int) -> None:
    """The event began an hour ago and runs another hour (as if the test had waited)."""
    with app.app_context():
        event = db.session.get(Event, event_id)
        event.starts_at, event.ends_at = utcnow() - timedelta(hours=1), utcnow() + timedelta(hours=1)
        db.session.commit()


def test_a_running_event_stays_editable_unless_its_start_moves_into_the_past(app, client, organizer, bearer):
    event = create_event(client, bearer(organizer))
    has_started(app, event["id"])
    path = f"/api/v1/events/{event['id']}"

    response = client.patch(path, json={"title": "Launch party (doors still open)"}, headers=bearer(organizer))
    assert response.status_code == 200, response.get_json()
    # The whole event sent back as it is, as a client that PUTs everything would: still fine.
    current = response.get_json()
    resent = {name: current[name] for name in ("title", "starts_at", "ends_at", "timezone", "description")}
    assert client.patch(path, json=resent, headers=bearer(organizer)).status_code == 200

    half_an_hour_ago = (datetime.now(timezone.utc) - timedelta(minutes=30)).isoformat()
    response = client.patch(path, json={"starts_at": half_an_hour_ago}, headers=bearer(organizer))
    assert "in the past" in refused_field(response, "starts_at")


def test_descriptions_are_capped_at_the_documented_size(app, client, organizer, bearer):
    headers = bearer(organizer)
    too_long = "x" * (EVENT_DESCRIPTION_MAX + 1)
    response = client.post("/api/v1/events", json={"title": "x", "starts_at": future_iso(), "description": too_long}, headers=headers)
    assert refused_field(response, "description")
    event = create_event(client, headers, description="x" * EVENT_DESCRIPTION_MAX)
    response = client.patch(f"/api/v1/events/{event['id']}", json={"description": too_long}, headers=headers)
    assert refused_field(response, "description")

    spec = client.get("/api/v1/openapi.json").get_json()["components"]["schemas"]
    assert spec["EventIn"]["properties"]["description"]["maxLength"] == EVENT_DESCRIPTION_MAX
    assert spec["EventPatch"]["properties"]["description"]["maxLength"] == EVENT_DESCRIPTION_MAX


# The forms ----------------------------------------------------------------------------------

@pytest.fixture
def signed_in(organizer, login):
    login(organizer)
    return organizer


def form_data(client, path: str, **overrides) -> dict:
    data = {
        "title": "Book club",
        "starts_at": "2031-03-10T19:30",
        "ends_at": "",
        "timezone": "Asia/Tokyo",
        "location": "Library",
        "description": "",
        "visibility": "public",
        "csrf_token": csrf_token(client, path),
    }
    data.update(overrides)
    return data


def field_error(html: str, field: str) -> str:
    start = html.index(f'id="{field}-error"')
    return html[html.index(">", start) + 1 : html.index("</p>", start)]


def local_input(moment: datetime, zone: str = "Asia/Tokyo") -> str:
    from zoneinfo import ZoneInfo

    return moment.astimezone(ZoneInfo(zone)).strftime("%Y-%m-%dT%H:%M")


FORM_REFUSALS = [
    ({"starts_at": "0001-01-01T00:00"}, "starts_at", "out of range"),
    ({"ends_at": "9999-12-31T23:59", "timezone": "Pacific/Kiritimati"}, "ends_at", "10 years"),
    ({"starts_at": local_input(datetime.now(timezone.utc) - timedelta(days=365))}, "starts_at", "in the past"),
    ({"description": "x" * (EVENT_DESCRIPTION_MAX + 1)}, "description", f"{EVENT_DESCRIPTION_MAX:,}"),
]


@pytest.mark.parametrize("overrides, field, message", FORM_REFUSALS)
def test_the_event_form_refuses_on_submit(app, client, signed_in, overrides, field, message):
    response = client.post("/events/new", data=form_data(client, "/events/new", **overrides))
    assert response.status_code != 302
    assert message in field_error(response.get_data(as_text=True), field)
    assert event_count(app) == 0


@pytest.mark.parametrize("overrides, field, message", FORM_REFUSALS)
def test_the_event_form_refuses_while_typing(app, client, signed_in, overrides, field, message):
    data = form_data(client, "/events/new", check_field=field, **overrides)
    response = client.post("/events/new", data=data, headers=HTMX)
    assert message in field_error(response.get_data(as_text=True), field)
    assert event_count(app) == 0


def test_editing_a_running_event_in_the_form_keeps_its_start(app, client, signed_in, bearer):
    event = create_event(client, bearer(signed_in), timezone="Asia/Tokyo")
    has_started(app, event["id"])
    path = f"/events/{event['id']}/edit"
    page = client.get(path).get_data(as_text=True)
    with app.app_context():
        stored = db.session.get(Event, event["id"])
        shown_start, shown_end = local_input(stored.starts_at), local_input(stored.ends_at)
    assert f'value="{shown_start}"' in page

    data = form_data(client, path, title="Launch party (doors still open)", starts_at=shown_start, ends_at=shown_end)
    checked = client.post(path, data={**data, "check_field": "title"}, headers=HTMX).get_data(as_text=True)
    assert 'id="starts_at-error"' not in checked
    response = client.post(path, data=data)
    assert response.status_code == 302, response.get_data(as_text=True)
    with app.app_context():
        edited = db.session.scalars(select(Event).where(Event.id == event["id"])).one()
        assert edited.title == "Launch party (doors still open)"

    earlier = local_input(datetime.now(timezone.utc) - timedelta(minutes=30))
    response = client.post(path, data=form_data(client, path, starts_at=earlier, ends_at=shown_end))
    assert "in the past" in field_error(response.get_data(as_text=True), "starts_at")
