"""Outgoing webhooks for integrators (issue 17.5): signed per Standard Webhooks, delivered
durably by a Temporal workflow with backoff, every attempt visible, resend, dead endpoints
disabled, and the channels' SSRF guard on targets."""
import json
from functools import partial

import pytest
from standardwebhooks.webhooks import Webhook

from .api_helpers import announce, create_event, follow_by_webhook, subscribe
from .conftest import csrf_token
from loopback.sinks import HttpSink, wait_until


@pytest.fixture
def app_config(app_config):
    # Backoff in seconds rather than hours, so a test sees several retries and a closed window.
    # The tests poll the messages list: a budget the polling cannot exhaust.
    return {**app_config, "WEBHOOK_FIRST_RETRY_SECONDS": 1, "WEBHOOK_MAX_RETRY_SECONDS": 2,
            "WEBHOOK_RETRY_WINDOW_SECONDS": 12, "API_RATE_LIMIT": "10000 per minute"}


def register(client, headers, url: str, event_types: list[str]) -> dict:
    response = client.post("/api/v1/webhook-endpoints", json={"url": url, "event_types": event_types}, headers=headers)
    assert response.status_code == 201, response.get_json()
    created = response.get_json()
    assert created["secret"].startswith("whsec_")
    return created


def raw_body(received) -> str:
    # Soonish sends compact JSON; the sink parsed it, this writes it back byte for byte.
    return json.dumps(received.body, separators=(",", ":"))


def test_an_endpoint_receives_a_signed_subscription_created(client, make_user, bearer, worker, http_sink):
    organizer, follower = bearer(make_user()), bearer(make_user())
    endpoint = register(client, organizer, http_sink.url("/hooks/soonish", scheme="http"), ["subscription.created"])
    event = create_event(client, organizer)
    followed = subscribe(client, follower, event["id"])
    wait_until(lambda: http_sink.delivered("/hooks/soonish"), message="the webhook at the endpoint")
    (received,) = http_sink.delivered("/hooks/soonish")
    headers = {name.lower(): value for name, value in received.headers.items()}
    payload = Webhook(endpoint["secret"]).verify(raw_body(received), headers)  # raises unless the signature holds
    assert payload["type"] == "subscription.created"
    assert payload["data"]["subscription_id"] == followed["id"] and payload["data"]["event"]["id"] == event["id"]
    assert headers["webhook-id"].startswith("msg_")
    with pytest.raises(Exception):
        Webhook("whsec_" + "A" * 32).verify(raw_body(received), headers)
    # The owner sees the message and its one successful attempt.
    wait_until(lambda: client.get(f"/api/v1/webhook-endpoints/{endpoint['id']}/messages", headers=organizer)
               .get_json()["items"][0]["status"] == "delivered")
    (message,) = client.get(f"/api/v1/webhook-endpoints/{endpoint['id']}/messages", headers=organizer).get_json()["items"]
    assert message["msg_id"] == headers["webhook-id"]
    assert [(a["status_code"], a["succeeded"]) for a in message["attempts"]] == [(200, True)]


def test_a_failing_endpoint_is_retried_with_backoff_and_its_attempts_are_listed(client, make_user, bearer, worker, http_sink):
    http_sink.failing = range(1, 3)  # down for the first two attempts
    organizer = bearer(make_user())
    endpoint = register(client, organizer, http_sink.url("/flaky", scheme="http"), ["event.updated"])
    event = create_event(client, organizer)
    assert client.patch(f"/api/v1/events/{event['id']}", json={"location": "Hall B"}, headers=organizer).status_code == 200
    messages_path = f"/api/v1/webhook-endpoints/{endpoint['id']}/messages"
    wait_until(lambda: client.get(messages_path, headers=organizer).get_json()["items"][0]["status"] == "delivered",
               timeout=60, message="delivered after two failures")
    (message,) = client.get(messages_path, headers=organizer).get_json()["items"]
    attempts = message["attempts"]
    assert [(a["status_code"], a["succeeded"]) for a in attempts] == [(503, False), (503, False), (200, True)]
    assert attempts[0]["error"] == "HTTP 503"
    assert message["payload"]["type"] == "event.updated" and message["payload"]["data"]["event"]["version"] == 2
    # Backoff: the second wait is longer than the first (1 s, then 2 s).
    received = [r.received_at for r in http_sink.received if r.path == "/flaky"]
    assert len(received) == 3
    assert (received[2] - received[1]) > (received[1] - received[0])
    # One webhook-id across every attempt: receivers can dedupe.
    assert len({r.headers["webhook-id"] for r in http_sink.received if r.path == "/flaky"}) == 1


def test_an_endpoint_failing_for_the_whole_window_is_disabled_and_can_be_resent_to(client, make_user, bearer, worker, http_sink):
    http_sink.failing = range(1, 1000)
    organizer = bearer(make_user())
    endpoint = register(client, organizer, http_sink.url("/dead", scheme="http"), ["event.cancelled"])
    event = create_event(client, organizer)
    assert client.post(f"/api/v1/events/{event['id']}/cancel", headers=organizer).status_code == 200
    path = f"/api/v1/webhook-endpoints/{endpoint['id']}"
    wait_until(lambda: not client.get(path, headers=organizer).get_json()["is_active"], timeout=60,
               message="the endpoint disabled")
    disabled = client.get(path, headers=organizer).get_json()
    assert "every delivery since" in disabled["disabled_reason"]
    (message,) = client.get(f"{path}/messages", headers=organizer).get_json()["items"]
    assert message["status"] == "failed" and message["next_attempt_at"] is None
    assert len(message["attempts"]) >= 3 and not any(a["succeeded"] for a in message["attempts"])
    assert all(a["status_code"] == 503 for a in message["attempts"])
    resend_path = f"{path}/messages/{message['id']}/resend"
    assert client.post(resend_path, headers=organizer).status_code == 422  # enable it first
    http_sink.failing = range(0)
    enabled = client.patch(path, json={"is_active": True}, headers=organizer).get_json()
    assert enabled["is_active"] and enabled["disabled_reason"] is None
    assert client.post(resend_path, headers=organizer).status_code == 202
    wait_until(lambda: client.get(f"{path}/messages", headers=organizer).get_json()["items"][0]["status"] == "delivered",
               timeout=30, message="resent")


def test_targets_pass_the_channels_ssrf_guard(app, client, make_user, bearer):
    app.config["ALLOW_PRIVATE_TARGETS"] = False
    organizer = bearer(make_user())
    for url in ("http://127.0.0.1:8080/hook", "http://169.254.169.254/latest/meta-data/", "http://localhost/x",
                "ftp://example.com/x", "http://example.com:99999/"):
        response = client.post("/api/v1/webhook-endpoints", json={"url": url, "event_types": ["event.updated"]},
                               headers=organizer)
        assert response.status_code == 422, url
        assert "url" in response.get_json()["error"]["fields"], url
    unknown = client.post("/api/v1/webhook-endpoints", json={"url": "https://example.com/h", "event_types": ["rsvp.nope"]},
                          headers=organizer)
    assert unknown.status_code == 422 and "event_types.0" in unknown.get_json()["error"]["fields"]


def test_only_the_owner_and_keys_with_the_scope_manage_endpoints(client, make_user, bearer, http_sink):
    owner, other = bearer(make_user()), bearer(make_user())
    endpoint = register(client, owner, http_sink.url("/mine", scheme="http"), ["event.updated"])
    assert client.get(f"/api/v1/webhook-endpoints/{endpoint['id']}", headers=other).status_code == 404
    assert client.delete(f"/api/v1/webhook-endpoints/{endpoint['id']}", headers=other).status_code == 404
    key = client.post("/api/v1/api-keys", json={"name": "ro", "scopes": ["events:read"]}, headers=owner).get_json()["key"]
    refused = client.get("/api/v1/webhook-endpoints", headers={"Authorization": f"Bearer {key}"})
    assert refused.status_code == 403 and refused.get_json()["error"]["fields"] == {"scope": ["webhooks:write"]}
    assert client.get(f"/api/v1/webhook-endpoints/{endpoint['id']}/secret", headers=owner).get_json()["secret"] == endpoint["secret"]
    assert client.delete(f"/api/v1/webhook-endpoints/{endpoint['id']}", headers=owner).status_code == 204


def told_at(sink, event_type: str) -> list[dict]:
    return [r.body for r in sink.delivered("/organizer") if r.body.get("type") == event_type]


def told_both(sink) -> None:
    wait_until(lambda: told_at(sink, "notification.sent") and told_at(sink, "delivery.failed"), timeout=60,
               message="notification.sent and delivery.failed at the organizer's endpoint")


def test_an_announcement_tells_the_organizer_how_it_went(client, make_user, bearer, worker, http_sink):
    organizer, reader, other = bearer(make_user()), bearer(make_user()), bearer(make_user())
    register(client, organizer, http_sink.url("/organizer", scheme="http"), ["notification.sent", "delivery.failed"])
    event = create_event(client, organizer)
    follow_by_webhook(client, reader, event["id"], http_sink.url("/reader"))
    gone = HttpSink(failing=range(1, 1000), failing_status=410).start()  # a follower's hook that is gone for good
    follow_by_webhook(client, other, event["id"], gone.url("/gone"))
    try:
        sent = announce(client, organizer, event["id"], "Doors open at 19:00")
        told_both(http_sink)
    finally:
        gone.stop()

    told = partial(told_at, http_sink)
    (summary,) = [b for b in told("notification.sent") if b["data"]["notification"]["id"] == sent["id"]]
    assert summary["data"]["counts"]["sent"] == 1 and summary["data"]["counts"]["failed"] == 1
    (failure,) = told("delivery.failed")
    assert failure["data"]["notification"]["id"] == sent["id"] and failure["data"]["reason"]
    assert not [b for b in told("notification.sent") if b["data"]["notification"]["kind"] == "welcome"]


def test_every_rsvp_change_tells_the_organizer_signed(client, make_user, bearer, login, worker, http_sink):
    host, guest = make_user(), make_user()
    organizer = bearer(host)
    endpoint = register(client, organizer, http_sink.url("/rsvps", scheme="http"), ["rsvp.changed"])
    event = create_event(client, organizer)
    by_api = client.put(f"/api/v1/events/{event['id']}/rsvp", json={"answer": "going"}, headers=bearer(guest))
    assert by_api.status_code == 200
    login(guest)  # and then on the event page
    page = f"/e/{event['slug']}"
    by_page = client.post(f"/e/{event['slug']}/rsvp", data={"answer": "maybe", "csrf_token": csrf_token(client, page)},
                          headers={"HX-Request": "true"})
    assert by_page.status_code == 200
    # The same answer again is no change: nothing is told.
    client.put(f"/api/v1/events/{event['id']}/rsvp", json={"answer": "maybe"}, headers=bearer(guest))
    messages = client.get(f"/api/v1/webhook-endpoints/{endpoint['id']}/messages", headers=organizer).get_json()["items"]
    assert [m["event_type"] for m in messages] == ["rsvp.changed", "rsvp.changed"]

    wait_until(lambda: len(http_sink.delivered("/rsvps")) == 2, message="both rsvp.changed at the endpoint")
    told = []
    for received in http_sink.delivered("/rsvps"):
        headers = {name.lower(): value for name, value in received.headers.items()}
        told.append(Webhook(endpoint["secret"]).verify(raw_body(received), headers))  # raises unless signed right
    told.sort(key=lambda payload: payload["timestamp"])
    assert [(p["type"], p["data"]["previous_answer"], p["data"]["answer"]) for p in told] == [
        ("rsvp.changed", None, "going"), ("rsvp.changed", "going", "maybe"),
    ]
    assert all(p["data"]["event"]["id"] == event["id"] and p["data"]["follower"] == "Test" for p in told)
    assert guest.email not in json.dumps(told)
    # Offered wherever endpoints are made: the page and the API's enum.
    assert 'value="rsvp.changed"' in client.get("/account/webhooks").get_data(as_text=True)
    spec = client.get("/api/v1/openapi.json").get_json()
    body = spec["paths"]["/api/v1/webhook-endpoints"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    types = spec["components"]["schemas"][body["$ref"].rsplit("/", 1)[-1]]["properties"]["event_types"]["items"]
    assert "rsvp.changed" in types["enum"]
