"""Unlisted events and series are link-only: by their link (the slug) anyone may read and follow
them; by id, which can be counted, only their organizer and the people who follow them (who had
the link) find them. Every door: the JSON API, the pages, calendars and share images, chat."""
import pytest

from soonish.bots.core import Commands, Speaker
from soonish.models import Subscription, SubscriptionStatus, db

from .api_helpers import create_event
from .conftest import csrf_token
from .test_series import create_series

ALICE = Speaker(platform="slack", workspace_id="T0TEAM", user_id="U0ALICE", display_name="alice")
BOB = Speaker(platform="slack", workspace_id="T0TEAM", user_id="U0BOB", display_name="bob")
HTMX = {"HX-Request": "true"}


@pytest.fixture
def unlisted(client, organizer) -> dict:
    return create_event(client, organizer, title="Secret supper", description="Bring wine",
                        online_url="https://meet.example/secret", visibility="unlisted")


def test_by_id_an_unlisted_event_is_missing_to_anyone_but_its_organizer(client, organizer, bearer, make_user, unlisted):
    stranger = bearer(make_user())
    for headers in ({}, stranger):
        response = client.get(f"/api/v1/events/{unlisted['id']}", headers=headers)
        assert response.status_code == 404, response.get_json()
        assert "Secret supper" not in response.get_data(as_text=True)
        assert unlisted["slug"] not in response.get_data(as_text=True)
    assert client.get(f"/api/v1/events/{unlisted['id']}", headers=organizer).get_json()["title"] == "Secret supper"

    # Its link is how it is read.
    by_link = client.get(f"/api/v1/events/by-slug/{unlisted['slug']}")
    assert by_link.status_code == 200 and by_link.get_json()["id"] == unlisted["id"]
    assert by_link.headers["ETag"]
    assert client.get("/api/v1/events/by-slug/secret-supper-000000").status_code == 404
    assert client.get(f"/api/v1/events/by-slug/{'x' * 97}").status_code == 404  # longer than any slug


def test_an_unlisted_event_is_followed_by_its_link_and_then_known_by_id(app, client, bearer, make_user, unlisted):
    guest = bearer(make_user("guest@example.com"))
    by_id = client.post(f"/api/v1/events/{unlisted['id']}/subscriptions", json={}, headers=guest)
    assert by_id.status_code == 404, by_id.get_json()
    anonymous = client.post(f"/api/v1/events/{unlisted['id']}/subscriptions", json={"email": "anon@example.com"})
    assert anonymous.status_code == 404
    assert client.put(f"/api/v1/events/{unlisted['id']}/rsvp", json={"answer": "going"}, headers=guest).status_code == 404
    with app.app_context():
        assert db.session.query(Subscription).count() == 0  # nobody followed it by its id

    followed = client.post(f"/api/v1/events/by-slug/{unlisted['slug']}/subscriptions", json={}, headers=guest)
    assert followed.status_code == 201, followed.get_json()
    assert followed.get_json()["event_id"] == unlisted["id"]
    assert client.post(f"/api/v1/events/by-slug/{unlisted['slug']}/subscriptions",
                       json={"email": "anon@example.com"}).status_code == 202
    # A follower had the link: the id now works for them, for reading and answering.
    assert client.get(f"/api/v1/events/{unlisted['id']}", headers=guest).status_code == 200
    rsvp = client.put(f"/api/v1/events/{unlisted['id']}/rsvp", json={"answer": "going"}, headers=guest)
    assert rsvp.status_code == 200, rsvp.get_json()


def test_by_id_an_unlisted_series_is_missing_and_its_link_reads_and_follows_it(client, organizer, bearer, make_user):
    series = create_series(client, organizer, visibility="unlisted")
    guest = bearer(make_user())
    assert client.get(f"/api/v1/series/{series['id']}").status_code == 404
    assert client.get(f"/api/v1/series/{series['id']}/occurrences", headers=guest).status_code == 404
    assert client.post(f"/api/v1/series/{series['id']}/follow", json={}, headers=guest).status_code == 404
    assert client.get(f"/api/v1/series/{series['id']}", headers=organizer).status_code == 200

    by_link = client.get(f"/api/v1/series/by-slug/{series['slug']}")
    assert by_link.status_code == 200 and by_link.get_json()["id"] == series["id"]
    followed = client.post(f"/api/v1/series/by-slug/{series['slug']}/follow", json={}, headers=guest)
    assert followed.status_code == 201, followed.get_json()
    assert client.get(f"/api/v1/series/{series['id']}", headers=guest).status_code == 200
    # Each occurrence came with the follow, so its id works for the follower too.
    occurrence = client.get(f"/api/v1/series/{series['id']}/occurrences", headers=guest).get_json()["items"][0]
    assert client.get(f"/api/v1/events/{occurrence['id']}", headers=guest).status_code == 200


def test_the_openapi_document_offers_the_link_doors(client):
    paths = client.get("/api/v1/openapi.json").get_json()["paths"]
    for path in ("/api/v1/events/by-slug/{slug}", "/api/v1/events/by-slug/{slug}/subscriptions",
                 "/api/v1/series/by-slug/{slug}", "/api/v1/series/by-slug/{slug}/follow"):
        (operation,) = [op for method, op in paths[path].items() if method in ("get", "post")]
        parameters = paths[path].get("parameters", []) + operation.get("parameters", [])
        (slug,) = [p for p in parameters if p["name"] == "slug"]
        assert slug["in"] == "path" and slug["schema"]["type"] == "string" and slug["schema"]["maxLength"] == 96


def test_the_page_answers_rsvps_by_its_link_not_by_id(app, client, make_user, login, unlisted):
    login(make_user("guest@example.com"))
    page = f"/e/{unlisted['slug']}"
    html = client.get(page).get_data(as_text=True)
    assert f"/events/{unlisted['id']}/rsvp" not in html
    token = csrf_token(client, page)
    assert client.post(f"/events/{unlisted['id']}/rsvp", data={"answer": "going", "csrf_token": token}).status_code == 404
    assert client.get(f"/events/{unlisted['id']}/rsvp").status_code == 404

    box = client.post(f"/e/{unlisted['slug']}/rsvp", data={"answer": "going", "csrf_token": token}, headers=HTMX)
    assert box.status_code == 200 and 'data-my-answer="going"' in box.get_data(as_text=True)
    assert client.get(f"/e/{unlisted['slug']}/rsvp", headers=HTMX).status_code == 200


def test_the_page_follows_by_its_link(app, client, make_user, login, unlisted):
    login(make_user("guest@example.com"))
    page = f"/e/{unlisted['slug']}"
    followed = client.post(f"{page}/subscribe", data={"reminder_offsets": "1h", "csrf_token": csrf_token(client, page)})
    assert followed.status_code == 302, followed.get_data(as_text=True)
    with app.app_context():
        (subscription,) = db.session.query(Subscription).all()
        assert subscription.event_id == unlisted["id"] and subscription.status == SubscriptionStatus.ACTIVE


def test_the_series_page_follows_by_its_link_not_by_id(app, client, organizer, make_user, login):
    series = create_series(client, organizer, visibility="unlisted")
    login(make_user("guest@example.com"))
    page = f"/series/{series['slug']}"
    token = csrf_token(client, page)
    assert client.post(f"/series/{series['id']}/follow", data={"csrf_token": token}).status_code == 404
    assert f"/series/{series['slug']}/follow" in client.get(page).get_data(as_text=True)
    followed = client.post(f"/series/{series['slug']}/follow", data={"csrf_token": token})
    assert followed.status_code == 302
    assert "You follow every occurrence" in client.get(page).get_data(as_text=True)


def test_calendars_and_share_images_go_by_link_only(client, unlisted):
    assert client.get(f"/events/{unlisted['slug']}.ics").status_code == 200
    assert client.get(f"/e/{unlisted['slug']}/share.png").status_code == 200
    assert client.get(f"/events/{unlisted['id']}.ics").status_code == 404
    assert client.get(f"/e/{unlisted['id']}/share.png").status_code == 404
    assert client.get(f"/e/{unlisted['id']}").status_code == 404


def test_chat_follows_an_unlisted_event_by_its_link_only(app, client, unlisted):
    commands = Commands(app)
    by_id = commands.run(ALICE, f"subscribe {unlisted['id']}")
    assert not by_id.ok and "can't find" in by_id.text
    followed = commands.run(ALICE, f"subscribe http://soonish.test/e/{unlisted['slug']}")
    assert followed.ok, followed.text
    with app.app_context():
        (subscription,) = db.session.query(Subscription).all()
        assert subscription.event_id == unlisted["id"] and subscription.status == SubscriptionStatus.ACTIVE
    # The RSVP buttons under posts about it name it by id: a press comes from a post that had
    # its link (a channel's, say), even from someone who doesn't follow it.
    pressed = commands.rsvp_button(BOB, unlisted["id"], "going")
    assert pressed.ok, pressed.text


def test_chat_follows_an_unlisted_series_by_its_link(app, client, organizer):
    series = create_series(client, organizer, visibility="unlisted")
    commands = Commands(app)
    followed = commands.run(ALICE, f"subscribe http://soonish.test/series/{series['slug']}")
    assert followed.ok, followed.text
    left = commands.run(ALICE, f"unsubscribe http://soonish.test/series/{series['slug']}")
    assert left.ok, left.text
