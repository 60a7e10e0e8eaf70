"""Personal API keys against the account (review of issues 16 and 17): a password reset revokes
them, "sign out everywhere" leaves them working, an erased account's key is refused at once, no
key can manage the account, RSVP operations want their scopes, and an account's deletion and
export cover its RSVPs, webhook endpoints and keys."""
import json
import re

from sqlalchemy import text

from soonish.models import Rsvp, RsvpAnswer, User, db

from .api_helpers import create_event, subscribe
from .conftest import PASSWORD
from loopback.sinks import wait_until

NEW_PASSWORD = "a brand new passphrase"
LINK = re.compile(r"http://soonish\.test(/\S+)")
EVERY_SCOPE = ["events:read", "events:write", "announce", "subscriptions:read", "subscriptions:write",
               "channels:write", "webhooks:write"]


def make_key(client, headers, scopes) -> dict:
    response = client.post("/api/v1/api-keys", json={"name": "CI", "scopes": scopes}, headers=headers)
    assert response.status_code == 201, response.get_json()
    return {"Authorization": f"Bearer {response.get_json()['key']}"}


def raw_count(app, sql: str, **params) -> int:
    with app.app_context():
        return db.session.execute(text(sql), params).scalar()


def reads_events(client, headers) -> int:
    return client.get("/api/v1/me/events", headers=headers).status_code


# --- 1. Keys after a reset, a revoke, a deletion ------------------------------------------------

def test_a_password_reset_revokes_every_key(app, client, make_user, bearer, worker, smtp_sink):
    user = make_user("keys@example.com")
    key = make_key(client, bearer(user), ["events:read"])
    assert reads_events(client, key) == 200
    assert client.post("/api/v1/auth/password-reset", json={"email": "keys@example.com"}).status_code == 202
    (mail,) = smtp_sink.wait_for(1)
    path = next(p for p in LINK.findall(mail.get_body(preferencelist=("plain",)).get_content())
                if p.startswith("/reset-password/"))
    confirmed = client.post("/api/v1/auth/password-reset/confirm",
                            json={"token": path.rsplit("/", 1)[1], "password": NEW_PASSWORD})
    assert confirmed.status_code == 200
    refused = client.get("/api/v1/me/events", headers=key)
    assert refused.status_code == 401 and refused.headers["WWW-Authenticate"] == "Bearer"
    fresh = {"Authorization": f"Bearer {confirmed.get_json()['access_token']}"}
    assert client.get("/api/v1/api-keys", headers=fresh).get_json()["items"] == []  # listed as revoked
    assert reads_events(client, make_key(client, fresh, ["events:read"])) == 200  # new keys work


def test_sign_out_everywhere_ends_tokens_but_leaves_keys_working(client, make_user, bearer):
    user = make_user()
    token = bearer(user)
    key = make_key(client, token, ["events:read"])
    assert client.post("/api/v1/auth/revoke", headers=token).status_code == 204
    assert reads_events(client, token) == 401
    assert reads_events(client, key) == 200


def test_an_erased_accounts_key_is_refused_at_once(app, client, make_user, bearer):
    user = make_user()
    token = bearer(user)
    key = make_key(client, token, EVERY_SCOPE)
    assert reads_events(client, key) == 200
    assert client.delete("/api/v1/me", json={"password": PASSWORD}, headers=token).status_code == 204
    refused = client.get("/api/v1/me/events", headers=key)
    assert refused.status_code == 401 and refused.headers["WWW-Authenticate"] == "Bearer"
    assert raw_count(app, "SELECT count(*) FROM api_keys WHERE user_id = :id", id=user.id) == 0


# --- 2. The account is not an API key's business; RSVPs want their scopes -----------------------

ACCOUNT_OPERATIONS = [
    ("post", "/api/v1/auth/revoke", None),
    ("post", "/api/v1/me/password", {"current_password": PASSWORD, "new_password": NEW_PASSWORD}),
    ("post", "/api/v1/me/email", {"email": "new@example.com", "current_password": PASSWORD}),
    ("get", "/api/v1/me/export", None),
    ("delete", "/api/v1/me", {"password": PASSWORD}),
]


def test_no_api_key_manages_the_account_whatever_its_scopes(app, client, make_user, bearer):
    user = make_user()
    token = bearer(user)
    for scopes in (["events:read"], EVERY_SCOPE):
        key = make_key(client, token, scopes)
        for method, path, body in ACCOUNT_OPERATIONS:
            refused = getattr(client, method)(path, json=body, headers=key)
            assert refused.status_code == 403, (scopes, path, refused.get_json())
            assert "API keys can't do this" in refused.get_json()["error"]["message"]
    with app.app_context():
        unchanged = db.session.get(User, user.id)
        assert unchanged.erased_at is None and unchanged.check_password(PASSWORD) and unchanged.token_epoch == 0
    # The account's owner, with a token, still can.
    assert client.get("/api/v1/me/export", headers=token).status_code == 200


def test_rsvp_operations_want_their_scopes(client, make_user, bearer, worker):
    organizer = bearer(make_user())
    event = create_event(client, organizer)
    guest = bearer(make_user())
    reader = make_key(client, guest, ["events:read"])
    refused = client.put(f"/api/v1/events/{event['id']}/rsvp", json={"answer": "going"}, headers=reader)
    assert refused.status_code == 403 and refused.get_json()["error"]["fields"] == {"scope": ["subscriptions:write"]}
    answering = make_key(client, guest, ["subscriptions:write"])
    answered = client.put(f"/api/v1/events/{event['id']}/rsvp", json={"answer": "going"}, headers=answering)
    assert answered.status_code == 200 and answered.get_json()["answer"] == "going"

    organizer_reader = make_key(client, organizer, ["events:read"])
    listing = client.get(f"/api/v1/events/{event['id']}/rsvps", headers=organizer_reader)
    assert listing.status_code == 200 and listing.get_json()["counts"]["going"] == 1
    settings = client.put(f"/api/v1/events/{event['id']}/rsvp-settings", json={"capacity": 5}, headers=organizer_reader)
    assert settings.status_code == 403 and settings.get_json()["error"]["fields"] == {"scope": ["events:write"]}
    writer = make_key(client, organizer, ["events:write"])
    assert client.get(f"/api/v1/events/{event['id']}/rsvps", headers=writer).get_json()["error"]["fields"] == {
        "scope": ["events:read"]}
    changed = client.put(f"/api/v1/events/{event['id']}/rsvp-settings", json={"capacity": 5}, headers=writer)
    assert changed.status_code == 200 and changed.get_json()["capacity"] == 5


# --- 4 and 5. Deletion and export cover RSVPs, webhook endpoints and keys -----------------------

def register_endpoint(client, headers, url: str) -> dict:
    response = client.post("/api/v1/webhook-endpoints", json={"url": url, "event_types": ["event.updated"]},
                           headers=headers)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def test_deleting_an_account_frees_its_place_for_the_waitlist_and_removes_its_hooks_and_keys(
    app, client, make_user, bearer, worker, smtp_sink, http_sink,
):
    organizer = bearer(make_user("host@example.com"))
    event = create_event(client, organizer, title="Small dinner")
    assert client.put(f"/api/v1/events/{event['id']}/rsvp-settings", json={"capacity": 1},
                      headers=organizer).status_code == 200
    leaving, waiting = make_user("leaving@example.com"), make_user("waiting@example.com")
    leaving_token = bearer(leaving)
    subscribe(client, leaving_token, event["id"])
    assert client.put(f"/api/v1/events/{event['id']}/rsvp", json={"answer": "going"},
                      headers=leaving_token).get_json()["answer"] == "going"
    assert client.put(f"/api/v1/events/{event['id']}/rsvp", json={"answer": "going"},
                      headers=bearer(waiting)).get_json()["answer"] == "waitlisted"
    # The leaving person's own endpoint, with a message sent to it, and a key.
    own_event = create_event(client, leaving_token, title="Leaving's event")
    register_endpoint(client, leaving_token, http_sink.url("/leaving", scheme="http"))
    client.patch(f"/api/v1/events/{own_event['id']}", json={"title": "Leaving's event, renamed"}, headers=leaving_token)
    wait_until(lambda: http_sink.delivered("/leaving"), message="the event.updated message")
    wait_until(lambda: raw_count(app, "SELECT count(*) FROM webhook_attempts") >= 1, message="the attempt recorded")
    key = make_key(client, leaving_token, ["events:read"])

    assert client.delete("/api/v1/me", json={"password": PASSWORD}, headers=leaving_token).status_code == 204

    assert raw_count(app, "SELECT count(*) FROM rsvps WHERE user_id = :id", id=leaving.id) == 0
    assert raw_count(app, "SELECT count(*) FROM webhook_endpoints WHERE user_id = :id", id=leaving.id) == 0
    assert raw_count(app, "SELECT count(*) FROM webhook_messages") == 0
    assert raw_count(app, "SELECT count(*) FROM webhook_attempts") == 0
    assert raw_count(app, "SELECT count(*) FROM api_keys WHERE user_id = :id", id=leaving.id) == 0
    assert reads_events(client, key) == 401
    # The freed place no longer counts as going and is offered to the next in line.
    counts = client.get(f"/api/v1/events/{event['id']}", headers=organizer).get_json()["rsvp_counts"]
    assert counts["going"] == 0 and counts["waitlisted"] == 1
    with app.app_context():
        offered = db.session.query(Rsvp).filter_by(user_id=waiting.id).one()
        assert offered.answer == RsvpAnswer.WAITLISTED and offered.offer_expires_at is not None
    wait_until(lambda: any("A place opened up: Small dinner" in m["Subject"] for m in smtp_sink.to("waiting@example.com")),
               30, message="the offer to the next in line")


def test_export_has_rsvps_with_waitlist_places_webhook_endpoints_and_keys(app, client, make_user, bearer, worker,
                                                                          http_sink):
    organizer = bearer(make_user())
    event = create_event(client, organizer, title="Full talk")
    client.put(f"/api/v1/events/{event['id']}/rsvp-settings", json={"capacity": 1}, headers=organizer)
    client.put(f"/api/v1/events/{event['id']}/rsvp", json={"answer": "going"}, headers=bearer(make_user()))
    other = create_event(client, organizer, title="Open talk")
    client.put(f"/api/v1/events/{other['id']}/rsvp-settings", json={"capacity": 1}, headers=organizer)
    client.put(f"/api/v1/events/{other['id']}/rsvp", json={"answer": "going"}, headers=bearer(make_user()))
    client.put(f"/api/v1/events/{other['id']}/rsvp", json={"answer": "going"}, headers=bearer(make_user()))

    me = bearer(make_user("me@example.com"))
    client.put(f"/api/v1/events/{event['id']}/rsvp", json={"answer": "maybe"}, headers=me)
    client.put(f"/api/v1/events/{other['id']}/rsvp", json={"answer": "going"}, headers=me)  # second in line
    endpoint = register_endpoint(client, me, http_sink.url("/mine", scheme="http") + "?team=7")
    key_response = client.post("/api/v1/api-keys", json={"name": "Zapier", "scopes": ["events:read", "announce"]},
                               headers=me)
    plain_key = key_response.get_json()["key"]
    assert reads_events(client, {"Authorization": f"Bearer {plain_key}"}) == 200  # so it has a last use

    exported = client.get("/api/v1/me/export", headers=me)
    assert exported.status_code == 200
    data = exported.get_json()
    assert [(r["event_title"], r["answer"], r["waitlist_position"]) for r in data["rsvps"]] == [
        ("Full talk", "maybe", None), ("Open talk", "waitlisted", 2),
    ]
    assert all(r["answered_at"] and r["place_offered_until"] is None for r in data["rsvps"])
    (hook,) = data["webhook_endpoints"]
    assert hook["url"] == endpoint["url"] and hook["event_types"] == ["event.updated"] and hook["is_active"] is True
    (key,) = data["api_keys"]
    assert (key["name"], key["scopes"]) == ("Zapier", ["announce", "events:read"])
    assert key["created_at"] and key["last_used_at"] and key["revoked_at"] is None
    document = json.dumps(data)
    assert endpoint["secret"] not in document and plain_key not in document
    with app.app_context():
        stored = db.session.execute(text("SELECT key_hash FROM api_keys")).scalars().all()
    assert not any(h in document for h in stored)
