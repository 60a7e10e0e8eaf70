"""A refusal (a ServiceError kind) raised where a view, an API endpoint or a chat command calls a
service reaches each front door's one renderer: the API's JSON problem, a page (the error page, a
link problem, the form again, a flashed message) and the bot's reply. No view catches it."""
import re

import pytest

from soonish.bots.core import Commands, Speaker

from .api_helpers import create_event
from .conftest import csrf_token

# Someone on Discord whose chat account is linked to no Soonish account.
STRANGER = Speaker(platform="discord", workspace_id="", user_id="40001", display_name="stranger")


@pytest.fixture
def event(client, organizer):
    return create_event(client, organizer, title="Launch party")


def problem(response) -> dict:
    assert response.mimetype == "application/json"
    return response.get_json()["error"]


def test_forbidden_in_each_door(app, client, event, make_user, bearer, login):
    stranger = make_user("stranger@example.com")
    api = client.post(f"/api/v1/events/{event['id']}/cancel", headers=bearer(stranger))
    assert api.status_code == 403
    assert problem(api) == {"code": "forbidden", "message": "Only the event's organizer can change it.", "fields": {}}

    login(stranger)
    page = client.post(f"/events/{event['id']}/cancel", data={"csrf_token": csrf_token(client)})
    assert page.status_code == 403 and page.mimetype == "text/html"
    assert "That isn't yours to change" in page.get_data(as_text=True)
    # htmx gets the same answer as the page's fragment.
    fragment = client.get(f"/events/{event['id']}/rsvps", headers={"HX-Request": "true"})
    assert fragment.status_code == 403 and "<html" not in fragment.get_data(as_text=True)
    assert "That isn't yours to change" in fragment.get_data(as_text=True)

    reply = Commands(app).run(STRANGER, f"cancel {event['slug']}")
    assert not reply.ok and reply.text.startswith("Organizing from chat needs your Soonish account")


def test_the_api_problem_speaks_the_readers_language_and_keeps_its_code(client, event, make_user, bearer):
    stranger = bearer(make_user("stranger@example.com"))
    for language, message in (("de-DE,de;q=0.9", "Nur der Veranstalter kann die Veranstaltung ändern."),
                              ("es", "Solo quien organiza el evento puede cambiarlo."),
                              ("ja", "Only the event's organizer can change it.")):  # not shipped: English
        api = client.post(f"/api/v1/events/{event['id']}/cancel", headers={**stranger, "Accept-Language": language})
        assert api.status_code == 403
        assert problem(api) == {"code": "forbidden", "message": message, "fields": {}}


def test_not_found_in_each_door(app, client):
    api = client.get("/api/v1/events/by-slug/no-such-event")
    assert api.status_code == 404
    assert problem(api) == {"code": "not_found", "message": "No such event.", "fields": {}}

    page = client.get("/e/no-such-event")
    assert page.status_code == 404 and "We can't find that page" in page.get_data(as_text=True)
    # A page opened from a mail's link says the link didn't work, with the service's sentence.
    link = client.get("/s/manage/not-a-token")
    assert link.status_code == 404
    assert "That link didn't work" in link.get_data(as_text=True) and "This link is not valid." in link.get_data(as_text=True)

    reply = Commands(app).run(STRANGER, "subscribe no-such-event")
    assert not reply.ok and reply.text.startswith("I can't find the event “no-such-event”.")


def test_validation_in_each_door(app, client, event, make_user, bearer, login):
    follower = make_user("follower@example.com")
    api = client.post(f"/api/v1/events/{event['id']}/subscriptions", json={"reminder_offsets": ["99y"]},
                      headers=bearer(follower))
    assert api.status_code == 422
    body = problem(api)
    assert body["code"] == "validation_error" and "reminder_offsets" in body["fields"]

    # A form page: the form again, the message beside its field, what was typed kept.
    login(follower)
    page = client.post(f"/e/{event['slug']}/subscribe",
                       data={"reminder_offsets": "99y", "csrf_token": csrf_token(client, f"/e/{event['slug']}")})
    text = page.get_data(as_text=True)
    assert page.status_code == 422 and body["fields"]["reminder_offsets"][0] in text.replace("&#34;", '"')
    assert re.search(r'name="reminder_offsets"[^>]*value="99y"', text)

    reply = Commands(app).run(STRANGER, f"remind {event['slug']} 99y")
    assert not reply.ok and "“99y” is not an offset like 1d, 2h or 15m" in reply.text


def test_a_refused_action_is_flashed_on_the_page_it_returns_to(client, event, make_user, login):
    follower = make_user("follower@example.com")
    login(follower)
    answer = client.post(f"/e/{event['slug']}/rsvp", data={"answer": "perhaps", "csrf_token": csrf_token(client)})
    assert answer.status_code == 302
    assert "Answer going, maybe or no." in client.get(answer.headers["Location"]).get_data(as_text=True)
    # The event page's box asks by htmx: it gets the box again, with the message and the status.
    box = client.post(f"/e/{event['slug']}/rsvp", data={"answer": "perhaps", "csrf_token": csrf_token(client)},
                      headers={"HX-Request": "true"})
    assert box.status_code == 422 and "Answer going, maybe or no." in box.get_data(as_text=True)
    assert "<html" not in box.get_data(as_text=True)


def test_a_refusal_raised_before_the_view_is_the_same_problem(client, organizer):
    """The Idempotency-Key check runs before any API view; its refusal has the same shape."""
    api = client.post("/api/v1/events", json={"title": "x"}, headers={**organizer, "Idempotency-Key": "k" * 300})
    assert api.status_code == 422
    assert problem(api)["fields"] == {"Idempotency-Key": ["Use 1 to 255 characters, e.g. a UUID."]}


def test_a_form_refused_by_an_error_page_can_be_sent_again(client, make_user, login):
    """A once-per-form submit the error page answered frees its nonce: the same form sent again
    runs again (and is refused again), instead of being taken for a repeat still in progress."""
    login(make_user())
    form = {"form_nonce": "the-same-nonce", "csrf_token": csrf_token(client)}
    first = client.post("/events/999999/cancel", data=form)
    again = client.post("/events/999999/cancel", data=form)
    assert first.status_code == again.status_code == 404
