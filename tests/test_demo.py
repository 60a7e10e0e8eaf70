"""`soonish demo`: a first run gets a demo organizer and an upcoming event on a real workflow."""
import re

from sqlalchemy import func, select

from soonish.cli import cli
from soonish.models import Event, EventStatus, OutboxItem, OutboxKind, User, Visibility, db, utcnow
from soonish.services.demo import DEMO_EMAIL

from .conftest import csrf_token


def run_demo(app) -> str:
    result = app.test_cli_runner().invoke(cli, ["demo"])
    assert result.exit_code == 0, result.output
    return result.output


def password_in(output: str) -> str:
    return re.search(r"password\s+(\S+)", output).group(1)


def test_demo_creates_an_organizer_and_an_upcoming_event_once(app, client, harness, temporal_env):
    first = run_demo(app)
    assert DEMO_EMAIL in first and "http://127.0.0.1:5000/login" in first
    with app.app_context():
        event = db.session.scalars(select(Event)).one()
        assert event.visibility == Visibility.PUBLIC and event.status == EventStatus.SCHEDULED
        assert event.starts_at > utcnow()
        assert f"/e/{event.slug}" in first
        event_id = event.id
    # Created through the real service: its workflow's start waits in the outbox for a worker.
    with app.app_context():
        assert db.session.scalar(select(OutboxItem).where(
            OutboxItem.event_id == event_id, OutboxItem.kind == OutboxKind.EVENT_CREATED)) is not None

    second = run_demo(app)
    assert "(already there)" in second
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(User)) == 1
        assert db.session.scalar(select(func.count()).select_from(Event)) == 1

    # The printed password signs in (the latest one: each run sets a new one).
    response = client.post("/login", data={
        "email": DEMO_EMAIL, "password": password_in(second), "csrf_token": csrf_token(client, "/login"),
    })
    assert response.status_code == 302 and response.headers["Location"] == "/dashboard"
    assert "Soonish launch evening" in client.get("/").get_data(as_text=True)
