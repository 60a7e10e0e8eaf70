"""What API integrators expect (issue 17, issue 10 items 4-5): 405s that say what is allowed,
deleted subscriptions that stay gone, idempotent writes, scoped API keys, and cursor pages."""
import json
import uuid
from datetime import datetime, timedelta, timezone

from soonish.models import ApiKey, Event, IdempotencyRecord, db
from soonish.services import idempotency

from .api_helpers import announce, create_event, follow_by_webhook, future_iso, subscribe
from loopback.sinks import wait_until
from .temporal_helpers import wait_for_settled


def titled(sink, title: str) -> list:
    return [r for r in sink.delivered() if isinstance(r.body, dict) and r.body.get("title") == title]


# --- issue 10.4 and 10.5 ---------------------------------------------------------------------

def test_a_405_says_which_methods_are_allowed(client):
    response = client.put("/api/v1/events")
    assert response.status_code == 405
    assert set(response.headers["Allow"].replace(" ", "").split(",")) >= {"GET", "POST"}
    assert response.get_json()["error"]["code"] == "method_not_allowed"
    assert response.content_type == "application/json"


def test_a_deleted_subscription_reads_as_gone_and_following_again_is_fresh(client, make_user, bearer, worker, http_sink):
    organizer, reader = bearer(make_user()), bearer(make_user())
    event = create_event(client, organizer)
    followed = follow_by_webhook(client, reader, event["id"], http_sink.url("/reader"), reminder_offsets=["2h"])
    path = f"/api/v1/subscriptions/{followed['id']}"
    assert client.get(path, headers=reader).status_code == 200
    assert client.delete(path, headers=reader).status_code == 204
    assert client.get(path, headers=reader).status_code == 404
    assert client.patch(path, json={"reminder_offsets": ["1h"]}, headers=reader).status_code == 404
    assert client.delete(path, headers=reader).status_code == 404
    again = subscribe(client, reader, event["id"])
    assert again["status"] == "active" and again["selectors"] == []
    assert again["reminder_offsets"] != [7200]  # the old choices did not come back
    assert client.get(f"/api/v1/subscriptions/{again['id']}", headers=reader).status_code == 200


# --- 1. idempotent writes ------------------------------------------------------------------------

def test_a_retried_announcement_with_the_same_key_is_sent_once(app, client, make_user, bearer, worker, http_sink):
    organizer, reader = bearer(make_user()), bearer(make_user())
    event = create_event(client, organizer)
    follow_by_webhook(client, reader, event["id"], http_sink.url("/reader"))
    keyed = {**organizer, "Idempotency-Key": str(uuid.uuid4())}
    body = {"title": "Doors open at 19:00", "body": "Bring a friend"}
    first = client.post(f"/api/v1/events/{event['id']}/announcements", json=body, headers=keyed)
    assert first.status_code == 201 and "Idempotent-Replayed" not in first.headers
    retried = client.post(f"/api/v1/events/{event['id']}/announcements", json=body, headers=keyed)
    assert retried.status_code == 201
    assert retried.headers["Idempotent-Replayed"] == "true"
    assert retried.get_json() == first.get_json()
    wait_until(lambda: titled(http_sink, "Doors open at 19:00"), message="the announcement at the sink")
    wait_for_settled(app, first.get_json()["id"])  # every send it makes has been made
    assert len(titled(http_sink, "Doors open at 19:00")) == 1
    # Another key is another request: it is sent again.
    other = client.post(f"/api/v1/events/{event['id']}/announcements", json=body,
                        headers={**organizer, "Idempotency-Key": str(uuid.uuid4())})
    assert other.status_code == 201 and other.get_json()["id"] != first.get_json()["id"]


def test_the_same_key_with_another_body_is_refused(client, make_user, bearer, worker):
    organizer = bearer(make_user())
    keyed = {**organizer, "Idempotency-Key": "create-launch"}
    assert client.post("/api/v1/events", json={"title": "One", "starts_at": future_iso(3), "timezone": "UTC"},
                       headers=keyed).status_code == 201
    refused = client.post("/api/v1/events", json={"title": "Two", "starts_at": future_iso(3), "timezone": "UTC"},
                          headers=keyed)
    assert refused.status_code == 422
    assert "Idempotency-Key" in refused.get_json()["error"]["fields"]
    # The same JSON written differently is the same request.
    mine = client.get("/api/v1/me/events", headers=organizer).get_json()["items"]
    assert [e["title"] for e in mine] == ["One"]


def test_a_retry_while_the_first_request_runs_gets_409(app, client, make_user, bearer):
    user = make_user()
    organizer = bearer(user)
    body = {"title": "Racing", "starts_at": future_iso(3), "timezone": "UTC"}
    raw = json.dumps(body).encode()
    with app.app_context():  # the first request has claimed the key and is still running
        claimed = idempotency.begin(f"user:{user.id}", "racing-key", idempotency.fingerprint("POST", "/api/v1/events", raw))
        assert isinstance(claimed, IdempotencyRecord)
    response = client.post("/api/v1/events", data=raw, content_type="application/json",
                           headers={**organizer, "Idempotency-Key": "racing-key"})
    assert response.status_code == 409
    assert response.get_json()["error"]["code"] == "conflict"


def test_keys_are_per_caller_and_expire_after_a_day(app, client, make_user, bearer, worker):
    first, second = bearer(make_user()), bearer(make_user())
    body = {"title": "Mine", "starts_at": future_iso(3), "timezone": "UTC"}
    one = client.post("/api/v1/events", json=body, headers={**first, "Idempotency-Key": "k"})
    two = client.post("/api/v1/events", json=body, headers={**second, "Idempotency-Key": "k"})
    assert one.status_code == two.status_code == 201
    assert one.get_json()["id"] != two.get_json()["id"]
    with app.app_context():
        for record in db.session.query(IdempotencyRecord):
            record.created_at -= timedelta(hours=25)
        db.session.commit()
    three = client.post("/api/v1/events", json=body, headers={**first, "Idempotency-Key": "k"})
    assert three.status_code == 201 and "Idempotent-Replayed" not in three.headers
    assert three.get_json()["id"] != one.get_json()["id"]


def test_a_failed_first_attempt_frees_the_key(client, make_user, bearer):
    organizer = bearer(make_user())
    keyed = {**organizer, "Idempotency-Key": "after-401"}
    assert client.post("/api/v1/events", json={"title": "x"}, headers={"Idempotency-Key": "after-401"}).status_code == 401
    invalid = client.post("/api/v1/events", json={"title": ""}, headers=keyed)
    assert invalid.status_code == 422
    # A refusal is not kept (issue 22.19): the same request is refused again, for real.
    again = client.post("/api/v1/events", json={"title": ""}, headers=keyed)
    assert again.status_code == 422 and "Idempotent-Replayed" not in again.headers


# --- 2. API keys ---------------------------------------------------------------------------------

def make_key(client, headers, scopes, **extra) -> dict:
    response = client.post("/api/v1/api-keys", json={"name": "CI", "scopes": scopes, **extra}, headers=headers)
    assert response.status_code == 201, response.get_json()
    created = response.get_json()
    assert created["key"].startswith("sk_")
    return created


def test_an_api_key_works_within_its_scopes_only(app, client, make_user, bearer, worker):
    user = make_user()
    organizer = bearer(user)
    event = create_event(client, organizer)
    created = make_key(client, organizer, ["events:read"])
    reader = {"Authorization": f"Bearer {created['key']}"}
    listed = client.get("/api/v1/me/events", headers=reader)
    assert listed.status_code == 200 and [e["id"] for e in listed.get_json()["items"]] == [event["id"]]
    refused = client.post(f"/api/v1/events/{event['id']}/announcements", json={"title": "Hi"}, headers=reader)
    assert refused.status_code == 403
    assert "announce" in refused.get_json()["error"]["message"]
    assert refused.get_json()["error"]["fields"] == {"scope": ["announce"]}
    # Keys can't mint keys.
    assert client.post("/api/v1/api-keys", json={"name": "x", "scopes": ["announce"]}, headers=reader).status_code == 403
    with app.app_context():
        stored = db.session.get(ApiKey, created["id"])
        assert stored.key_hash != created["key"] and created["key"] not in json.dumps(stored.scopes)
        assert stored.last_used_at is not None
    keys = client.get("/api/v1/api-keys", headers=organizer).get_json()["items"]
    assert [(k["name"], k["scopes"]) for k in keys] == [("CI", ["events:read"])] and "key" not in keys[0]


def test_an_announcing_key_announces(client, make_user, bearer, worker, http_sink):
    organizer, reader = bearer(make_user()), bearer(make_user())
    event = create_event(client, organizer)
    follow_by_webhook(client, reader, event["id"], http_sink.url("/reader"))
    key = make_key(client, organizer, ["announce"])["key"]
    announced = client.post(f"/api/v1/events/{event['id']}/announcements", json={"title": "By key"},
                            headers={"Authorization": f"Bearer {key}"})
    assert announced.status_code == 201
    wait_until(lambda: titled(http_sink, "By key"), message="the announcement sent with an API key")


def test_a_revoked_or_expired_key_is_refused_at_once(app, client, make_user, bearer):
    organizer = bearer(make_user())
    created = make_key(client, organizer, ["events:read"])
    with_key = {"Authorization": f"Bearer {created['key']}"}
    assert client.get("/api/v1/me/events", headers=with_key).status_code == 200
    assert client.delete(f"/api/v1/api-keys/{created['id']}", headers=organizer).status_code == 204
    refused = client.get("/api/v1/me/events", headers=with_key)
    assert refused.status_code == 401 and refused.headers["WWW-Authenticate"] == "Bearer"
    assert client.get("/api/v1/api-keys", headers=organizer).get_json()["items"] == []
    expiring = make_key(client, organizer, ["events:read"], expires_at=future_iso(1))
    with app.app_context():
        db.session.get(ApiKey, expiring["id"]).expires_at = datetime.now(timezone.utc) - timedelta(seconds=1)
        db.session.commit()
    assert client.get("/api/v1/me/events", headers={"Authorization": f"Bearer {expiring['key']}"}).status_code == 401
    assert client.get("/api/v1/me/events", headers={"Authorization": "Bearer sk_forged"}).status_code == 401


def test_each_key_has_its_own_rate_limit(app, client, make_user, bearer):
    app.config["API_RATE_LIMIT"] = "3 per minute"
    organizer = bearer(make_user())
    first = {"Authorization": f"Bearer {make_key(client, organizer, ['events:read'])['key']}"}
    second = {"Authorization": f"Bearer {make_key(client, organizer, ['events:read'])['key']}"}
    for _ in range(3):
        assert client.get("/api/v1/me/events", headers=first).status_code == 200
    assert client.get("/api/v1/me/events", headers=first).status_code == 429
    assert client.get("/api/v1/me/events", headers=second).status_code == 200


def test_bad_key_requests_name_the_field(client, make_user, bearer):
    organizer = bearer(make_user())
    response = client.post("/api/v1/api-keys", json={"name": "x", "scopes": ["everything"]}, headers=organizer)
    assert response.status_code == 422 and "scopes.0" in response.get_json()["error"]["fields"]
    past = client.post("/api/v1/api-keys", json={"name": "x", "scopes": ["announce"],
                                                 "expires_at": "2001-01-01T00:00:00+00:00"}, headers=organizer)
    assert past.status_code == 422 and "expires_at" in past.get_json()["error"]["fields"]


# --- 3. lists that scale -------------------------------------------------------------------------

def seed_events(app, organizer_id: int, count: int, start: datetime, tag: str) -> None:
    with app.app_context():
        db.session.add_all([
            Event(slug=f"{tag}-{i}-{uuid.uuid4().hex[:6]}", organizer_id=organizer_id, title=f"{tag} {i}",
                  # Several events share each start time: the id breaks the tie.
                  starts_at=start + timedelta(hours=i // 3), timezone="UTC")
            for i in range(count)
        ])
        db.session.commit()


def test_pages_of_50_walk_250_events_without_gaps_or_repeats_while_events_are_added(app, client, make_user, bearer):
    user = make_user()
    organizer = bearer(user)
    start = datetime.now(timezone.utc).replace(microsecond=0) + timedelta(days=1)
    seed_events(app, user.id, 250, start, "seeded")
    seen, cursor, pages = [], None, 0
    while True:
        response = client.get("/api/v1/me/events", query_string={"limit": 50, **({"cursor": cursor} if cursor else {})},
                              headers=organizer)
        assert response.status_code == 200, response.get_json()
        page = response.get_json()
        seen += [e["title"] for e in page["items"]]
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            assert "Link" not in response.headers
            break
        assert f"cursor={cursor}" in response.headers["Link"] and response.headers["Link"].endswith('rel="next"')
        # Others add events meanwhile, before and after the part already read.
        seed_events(app, user.id, 2, start - timedelta(days=1), f"early{pages}")
    seeded = [t for t in seen if t.startswith("seeded")]
    assert len(seeded) == 250 and len(set(seeded)) == 250
    assert len(set(seen)) == len(seen)
    assert pages >= 5


def test_event_filters_and_limits(app, client, make_user, bearer, worker):
    organizer = bearer(make_user())
    soon = create_event(client, organizer, title="Jazz night", starts_at=future_iso(2))
    later = create_event(client, organizer, title="Poetry slam", starts_at=future_iso(20), visibility="unlisted")
    client.post(f"/api/v1/events/{later['id']}/cancel", headers=organizer)

    def ids(**query):
        response = client.get("/api/v1/me/events", query_string=query, headers=organizer)
        assert response.status_code == 200, response.get_json()
        return [e["id"] for e in response.get_json()["items"]]

    assert ids() == [soon["id"], later["id"]]
    assert ids(status="cancelled") == [later["id"]]
    assert ids(visibility="public") == [soon["id"]]
    assert ids(q="JAZZ") == [soon["id"]]
    assert ids(q="100%") == []
    assert ids(starts_after=future_iso(10)) == [later["id"]]
    assert ids(starts_before=future_iso(10)) == [soon["id"]]
    assert [e["id"] for e in client.get("/api/v1/events").get_json()["items"]] == [soon["id"]]
    assert client.get("/api/v1/me/events", query_string={"limit": 201}, headers=organizer).status_code == 422
    assert client.get("/api/v1/me/events", query_string={"cursor": "garbage"}, headers=organizer).status_code == 422


def test_notifications_filter_by_kind_and_page(client, make_user, bearer, worker):
    organizer = bearer(make_user())
    event = create_event(client, organizer)
    for n in range(3):
        announce(client, organizer, event["id"], f"News {n}")
    client.patch(f"/api/v1/events/{event['id']}", json={"location": "Elsewhere"}, headers=organizer)
    first = client.get(f"/api/v1/events/{event['id']}/notifications", query_string={"kind": "announcement", "limit": 2},
                       headers=organizer).get_json()
    assert [r["notification"]["title"] for r in first["items"]] == ["News 2", "News 1"]
    rest = client.get(f"/api/v1/events/{event['id']}/notifications",
                      query_string={"kind": "announcement", "limit": 2, "cursor": first["next_cursor"]},
                      headers=organizer).get_json()
    assert [r["notification"]["title"] for r in rest["items"]] == ["News 0"] and rest["next_cursor"] is None
    updates = client.get(f"/api/v1/events/{event['id']}/notifications", query_string={"kind": "update"},
                         headers=organizer).get_json()["items"]
    assert [r["notification"]["kind"] for r in updates] == ["update"]
