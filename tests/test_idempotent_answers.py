"""What an Idempotency-Key keeps and gives back (issue 22, items 2, 18 and 19): no secret is
stored and a replay shows it as null, a replay passes the authorization the original request
passed, the event's ETag comes with its answers and their replays, only answers of requests
that ran are kept, and the records go after 24 hours (on the retention schedule) and with the
account."""
import uuid
from datetime import timedelta

import pytest

from soonish.models import IdempotencyRecord, db
from soonish.temporal.retention.types import LedgerPruneRound
from soonish.temporal.retention.workflow import RetentionWorkflow

from .api_helpers import create_event, future_iso
from .conftest import PASSWORD

KEY_BODY = {"name": "CI", "scopes": ["events:read", "events:write", "announce"]}


def keyed(headers: dict, key: str | None = None) -> dict:
    return {**headers, "Idempotency-Key": key or str(uuid.uuid4())}


def stored_bodies(app) -> list[str]:
    with app.app_context():
        return [record.response_body or "" for record in db.session.query(IdempotencyRecord)]


def api_key(client, headers, scopes: list[str]) -> dict:
    made = client.post("/api/v1/api-keys", json={"name": "narrow", "scopes": scopes}, headers=headers)
    assert made.status_code == 201, made.get_json()
    return {"Authorization": f"Bearer {made.get_json()['key']}"}


# --- 2. secrets ------------------------------------------------------------------------------------

def test_a_new_api_key_is_not_stored_and_its_replay_shows_it_once(app, client, make_user, bearer):
    owner = keyed(bearer(make_user()))
    first = client.post("/api/v1/api-keys", json=KEY_BODY, headers=owner)
    assert first.status_code == 201 and first.get_json()["key"].startswith("sk_")
    plaintext = first.get_json()["key"]
    assert all(plaintext not in body for body in stored_bodies(app))
    replayed = client.post("/api/v1/api-keys", json=KEY_BODY, headers=owner)
    assert replayed.status_code == 201 and replayed.headers["Idempotent-Replayed"] == "true"
    assert replayed.get_json() == {**first.get_json(), "key": None}
    assert replayed.headers["Idempotent-Redacted"] == "key"
    assert "Idempotent-Redacted" not in first.headers
    # Nothing was made twice: one key, the first one, which works.
    assert [k["id"] for k in client.get("/api/v1/api-keys", headers=owner).get_json()["items"]] == [first.get_json()["id"]]
    assert client.get("/api/v1/me/events", headers={"Authorization": f"Bearer {plaintext}"}).status_code == 200


def test_signing_secrets_and_tokens_are_not_stored(app, client, make_user, bearer, http_sink):
    user = make_user()
    owner = bearer(user)
    endpoint_key = str(uuid.uuid4())
    endpoint_body = {"url": http_sink.url("/hooks", "http"), "event_types": ["event.updated"]}
    endpoint = client.post("/api/v1/webhook-endpoints", json=endpoint_body, headers=keyed(owner, endpoint_key))
    assert endpoint.status_code == 201 and endpoint.get_json()["secret"].startswith("whsec_")
    password_body = {"current_password": PASSWORD, "new_password": "a new one, long enough"}
    changed = client.post("/api/v1/me/password", json=password_body, headers=keyed(owner, "new-password"))
    assert changed.status_code == 200
    token = changed.get_json()["access_token"]
    secrets = [endpoint.get_json()["secret"], token]
    assert all(secret not in body for body in stored_bodies(app) for secret in secrets)
    fresh = {"Authorization": f"Bearer {token}"}
    replayed = client.post("/api/v1/webhook-endpoints", json=endpoint_body, headers=keyed(fresh, endpoint_key))
    assert replayed.status_code == 201 and replayed.headers["Idempotent-Replayed"] == "true"
    assert replayed.get_json() == {**endpoint.get_json(), "secret": None}
    assert replayed.headers["Idempotent-Redacted"] == "secret"
    # The secret is still there for its owner, where it always was.
    secret = client.get(f"/api/v1/webhook-endpoints/{endpoint.get_json()['id']}/secret", headers=fresh).get_json()
    assert secret == {"secret": endpoint.get_json()["secret"]}
    token_replayed = client.post("/api/v1/me/password", json=password_body, headers=keyed(fresh, "new-password"))
    assert token_replayed.status_code == 200 and token_replayed.get_json()["access_token"] is None
    assert token_replayed.headers["Idempotent-Redacted"] == "access_token"


def test_a_narrow_key_replaying_what_it_may_not_do_gets_the_refusal_it_gets_without_the_key(
        app, client, make_user, bearer, http_sink):
    owner = bearer(make_user())
    reader = api_key(client, owner, ["events:read"])
    made = client.post("/api/v1/api-keys", json=KEY_BODY, headers=keyed(owner, "mint"))
    assert made.status_code == 201
    endpoint_body = {"url": http_sink.url("/hooks", "http"), "event_types": ["event.updated"]}
    hook = client.post("/api/v1/webhook-endpoints", json=endpoint_body, headers=keyed(owner, "hook"))
    assert hook.status_code == 201
    for path, body, key in [("/api/v1/api-keys", KEY_BODY, "mint"), ("/api/v1/webhook-endpoints", endpoint_body, "hook")]:
        without_key = client.post(path, json=body, headers=reader)
        replay = client.post(path, json=body, headers=keyed(reader, key))
        assert replay.status_code == without_key.status_code == 403, path
        assert replay.get_json() == without_key.get_json()
        assert "Idempotent-Replayed" not in replay.headers
    # A signed-out caller with the key is refused as without it.
    anonymous = client.post("/api/v1/api-keys", json=KEY_BODY, headers={"Idempotency-Key": "mint"})
    assert anonymous.status_code == 401 and "Idempotent-Replayed" not in anonymous.headers


# --- 18. ETags -------------------------------------------------------------------------------------

def test_a_created_event_and_replayed_changes_carry_the_etag_get_gives(client, make_user, bearer):
    organizer = bearer(make_user())
    body = {"title": "Launch", "starts_at": future_iso(3), "timezone": "UTC"}
    created = client.post("/api/v1/events", json=body, headers=keyed(organizer, "create"))
    assert created.status_code == 201
    path = f"/api/v1/events/{created.get_json()['id']}"
    assert created.headers["ETag"] == client.get(path, headers=organizer).headers["ETag"]
    assert client.post("/api/v1/events", json=body, headers=keyed(organizer, "create")).headers["ETag"] == \
        created.headers["ETag"]
    changed = client.patch(path, json={"location": "Library"}, headers=keyed(organizer, "move"))
    assert changed.status_code == 200
    replayed = client.patch(path, json={"location": "Library"}, headers=keyed(organizer, "move"))
    assert replayed.headers["Idempotent-Replayed"] == "true"
    assert replayed.headers["ETag"] == changed.headers["ETag"] == client.get(path, headers=organizer).headers["ETag"]
    assert replayed.get_json() == changed.get_json()


# --- 19. only answers of requests that ran ---------------------------------------------------------

@pytest.mark.parametrize("refused_body, refused_status, headers_of", [
    ({"title": ""}, 422, lambda organizer, reader: organizer),  # a validation failure
    (None, 403, lambda organizer, reader: reader),  # a credential without the scope
])
def test_a_refused_request_keeps_no_answer_and_its_corrected_retry_runs(client, make_user, bearer, refused_body,
                                                                        refused_status, headers_of):
    organizer = bearer(make_user())
    reader = api_key(client, organizer, ["events:read"])
    body = {"title": "Launch", "starts_at": future_iso(3), "timezone": "UTC"}
    refused = client.post("/api/v1/events", json=refused_body or body,
                          headers=keyed(headers_of(organizer, reader), "launch"))
    assert refused.status_code == refused_status
    retried = client.post("/api/v1/events", json=body, headers=keyed(organizer, "launch"))
    assert retried.status_code == 201 and "Idempotent-Replayed" not in retried.headers
    assert client.post("/api/v1/events", json=body, headers=keyed(organizer, "launch")).headers["Idempotent-Replayed"]


def test_a_missing_event_keeps_no_answer(app, client, make_user, bearer):
    organizer = bearer(make_user())
    missing = client.patch("/api/v1/events/999999", json={"location": "x"}, headers=keyed(organizer, "k"))
    assert missing.status_code == 404
    assert stored_bodies(app) == []


# --- 2. records go after 24 hours and with the account ---------------------------------------------

def test_the_retention_schedule_drops_records_after_a_day(app, client, make_user, bearer, worker, harness, temporal_env):
    organizer = bearer(make_user())
    old = create_event(client, keyed(organizer, "old"))
    recent = create_event(client, keyed(organizer, "recent"))
    with app.app_context():
        db.session.query(IdempotencyRecord).filter_by(key="old").one().created_at -= timedelta(hours=25)
        db.session.commit()
    harness.run(temporal_env.client.execute_workflow(
        RetentionWorkflow.run, LedgerPruneRound(), id=f"{app.config['TEMPORAL_ID_PREFIX']}retention-keys",
        task_queue=app.config["TEMPORAL_TASK_QUEUE"],
    ))
    with app.app_context():
        assert [r.key for r in db.session.query(IdempotencyRecord)] == ["recent"]
    assert old["id"] != recent["id"]


def test_erasing_an_account_drops_its_records(app, client, make_user, bearer):
    user, other = make_user(), make_user()
    mine, theirs = bearer(user), bearer(other)
    for headers, key in [(mine, "mine"), (theirs, "theirs")]:
        assert client.post("/api/v1/api-keys", json=KEY_BODY, headers=keyed(headers, key)).status_code == 201
    assert client.delete("/api/v1/me", json={"password": PASSWORD}, headers=mine).status_code == 204
    with app.app_context():
        assert [(r.caller, r.key) for r in db.session.query(IdempotencyRecord)] == [(f"user:{other.id}", "theirs")]


def test_a_chat_connect_code_is_not_stored(chat_config, app, client, make_user, bearer):
    owner = keyed(bearer(make_user()), "code")
    first = client.post("/api/v1/chat-accounts/connect-codes", json={"platform": "slack"}, headers=owner)
    assert first.status_code == 201
    assert all(first.get_json()["code"] not in body for body in stored_bodies(app))
    replayed = client.post("/api/v1/chat-accounts/connect-codes", json={"platform": "slack"}, headers=owner)
    assert replayed.status_code == 201 and replayed.headers["Idempotent-Redacted"] == "code, command"
    assert replayed.get_json() == {**first.get_json(), "code": None, "command": None}


def test_the_openapi_document_says_what_a_replay_gives(client):
    spec = client.get("/api/v1/openapi.json").get_json()
    schemas = spec["components"]["schemas"]
    for schema, field in [("ApiKeyCreatedOut", "key"), ("EndpointCreatedOut", "secret"), ("TokenOut", "access_token"),
                          ("ConnectCodeOut", "code"), ("ConnectCodeOut", "command")]:
        described = schemas[schema]["properties"][field]
        assert described["nullable"] is True and "Idempotent-Redacted" in described["description"], (schema, field)
    assert "ETag" in spec["paths"]["/api/v1/events"]["post"]["responses"]["201"]["headers"]
    (parameter,) = [p for p in spec["paths"]["/api/v1/api-keys"]["post"]["parameters"] if p["name"] == "Idempotency-Key"]
    assert "same 403" in parameter["description"] and "Only answers of requests that ran" in parameter["description"]
