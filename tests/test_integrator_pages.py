"""The account's pages for integrators: API keys (shown once, revocable) and webhook endpoints
(attempts visible, a resend button)."""
import re

from .api_helpers import create_event
from .conftest import csrf_token
from loopback.sinks import wait_until


def test_an_api_key_made_on_the_page_works_once_shown_and_stops_when_revoked(client, make_user, login):
    login(make_user())
    assert "API keys" in client.get("/account").get_data(as_text=True)
    refused = client.post("/account/api-keys", data={"name": "CRM", "csrf_token": csrf_token(client, "/account/api-keys")})
    assert refused.status_code == 422 and "Choose one or more of" in refused.get_data(as_text=True)
    page = client.post("/account/api-keys", data={"name": "CRM", "scopes": ["events:read"], "expires_on": "2099-01-01",
                                                  "csrf_token": csrf_token(client, "/account/api-keys")})
    assert page.status_code == 200
    key = re.search(r'value="(sk_[^"]+)"', page.get_data(as_text=True)).group(1)
    assert client.get("/api/v1/me/events", headers={"Authorization": f"Bearer {key}"}).status_code == 200
    listing = client.get("/account/api-keys").get_data(as_text=True)
    assert key not in listing and key[:10] in listing
    # The expiry the reader's way (Babel), the end of the day given, in UTC.
    assert 'expires <time datetime="2099-01-01T23:59:59' in listing and "Thu, Jan 1, 2099, 11:59\u202fPM UTC" in listing
    key_id = re.search(r'/account/api-keys/(\d+)/revoke', listing).group(1)
    client.post(f"/account/api-keys/{key_id}/revoke", data={"csrf_token": csrf_token(client, "/account/api-keys")})
    assert client.get("/api/v1/me/events", headers={"Authorization": f"Bearer {key}"}).status_code == 401


def test_the_webhook_page_shows_attempts_and_resends(app, client, make_user, login, bearer, worker, http_sink):
    user = make_user()
    login(user)
    url = http_sink.url("/page-hook", scheme="http")
    created = client.post("/account/webhooks", data={"url": url, "event_types": ["event.updated"],
                                                     "csrf_token": csrf_token(client, "/account/webhooks")})
    assert created.status_code == 200 and "whsec_" in created.get_data(as_text=True)
    endpoint_id = re.search(r'/account/webhooks/(\d+)"', client.get("/account/webhooks").get_data(as_text=True)).group(1)
    event = create_event(client, bearer(user))
    client.patch(f"/api/v1/events/{event['id']}", json={"location": "Hall B"}, headers=bearer(user))
    wait_until(lambda: len(http_sink.delivered("/page-hook")) == 1, message="the first delivery")
    page_path = f"/account/webhooks/{endpoint_id}"
    wait_until(lambda: "(HTTP 200)" in client.get(page_path).get_data(as_text=True), message="the attempt listed")
    message_id = re.search(r'/messages/(\d+)/resend', client.get(page_path).get_data(as_text=True)).group(1)
    resent = client.post(f"{page_path}/messages/{message_id}/resend", data={"csrf_token": csrf_token(client, page_path)})
    assert resent.status_code == 302
    wait_until(lambda: len(http_sink.delivered("/page-hook")) == 2, message="the resend")
    first, second = http_sink.delivered("/page-hook")
    assert first.headers["webhook-id"] == second.headers["webhook-id"]
