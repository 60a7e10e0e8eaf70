"""Optimistic concurrency (issue 17.4): the ETag is the event's version; a change based on an
older version is refused (API 412 with the current event; the edit page says so) instead of
silently overwriting what someone else saved."""
import re

from .api_helpers import create_event, future_iso
from .conftest import csrf_token


def test_get_gives_the_version_as_etag_and_a_stale_if_match_is_refused(client, make_user, bearer, worker):
    organizer = bearer(make_user())
    event = create_event(client, organizer)
    path = f"/api/v1/events/{event['id']}"
    fetched = client.get(path)
    assert fetched.headers["ETag"] == '"1"'
    # The integration changes it, knowing version 1.
    changed = client.patch(path, json={"location": "Hall B"}, headers={**organizer, "If-Match": '"1"'})
    assert changed.status_code == 200 and changed.headers["ETag"] == '"2"'
    # The browser tab still holds version 1.
    stale = client.patch(path, json={"location": "Hall C"}, headers={**organizer, "If-Match": '"1"'})
    assert stale.status_code == 412
    answer = stale.get_json()
    assert answer["error"]["code"] == "precondition_failed"
    assert answer["current"]["location"] == "Hall B" and answer["current"]["version"] == 2
    assert stale.headers["ETag"] == '"2"'
    assert client.get(path).get_json()["location"] == "Hall B"
    # Garbage or weak tags match no version.
    assert client.patch(path, json={"location": "X"}, headers={**organizer, "If-Match": 'W/"2"'}).status_code == 412
    # Without If-Match (or with *) the change applies, as documented.
    assert client.patch(path, json={"location": "Hall D"}, headers={**organizer, "If-Match": "*"}).status_code == 200
    assert client.patch(path, json={"location": "Hall E"}, headers=organizer).get_json()["version"] == 4


def test_the_edit_form_says_the_event_changed_instead_of_overwriting(app, client, make_user, login, bearer, worker):
    user = make_user()
    login(user)
    event = create_event(client, bearer(user), title="Book club", starts_at=future_iso(30))
    edit_path = f"/events/{event['id']}/edit"
    page = client.get(edit_path).get_data(as_text=True)
    version = re.search(r'name="version" type="hidden" value="(\d+)"', page).group(1)
    assert version == "1"
    # Meanwhile the organizer's integration renames it.
    client.patch(f"/api/v1/events/{event['id']}", json={"title": "Book club (room 2)"}, headers=bearer(user))
    data = {"title": "Book club: chapter 6", "starts_at": "2031-03-10T19:30", "timezone": "UTC", "visibility": "public",
            "location": "", "description": "", "version": version, "csrf_token": csrf_token(client, edit_path)}
    refused = client.post(edit_path, data=data)
    assert refused.status_code == 200
    assert "This event changed while you were editing" in refused.get_data(as_text=True)
    assert client.get(f"/api/v1/events/{event['id']}").get_json()["title"] == "Book club (room 2)"
    # The form now carries the current version: saving again is a deliberate overwrite.
    assert 'name="version" type="hidden" value="2"' in refused.get_data(as_text=True)
    saved = client.post(edit_path, data={**data, "version": "2"})
    assert saved.status_code == 302
    assert client.get(f"/api/v1/events/{event['id']}").get_json()["title"] == "Book club: chapter 6"
