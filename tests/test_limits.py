"""Rate limits: sign-in brute force, API budget per user, subscribe-by-email, Redis storage.

Sign-in counts failures only (OWASP's authentication guidance): per account from one IP, and per
IP with a higher ceiling; a success costs nothing and clears that account's failures."""
import uuid

import pytest
import redis

from soonish.config import Config
from soonish.web import create_app
from soonish.web.limits import subscribe_by_email_limit, warn_if_counted_per_process

from .conftest import PASSWORD, csrf_token

REDIS_URL = "redis://127.0.0.1:6379/0"


def from_ip(ip: str) -> dict:
    return {"REMOTE_ADDR": ip}


def wrong_page_login(client, email: str):
    return page_login(client, email, "wrong-password")


def page_login(client, email: str, password: str = PASSWORD):
    return client.post("/login", data={"email": email, "password": password, "csrf_token": csrf_token(client, "/login")})


def assert_retry_after(response, window_seconds: int = 15 * 60):
    assert 0 < int(response.headers["Retry-After"]) <= window_seconds


def test_a_login_brute_force_gets_429_on_the_sixth_try(client, make_user):
    user = make_user()
    for attempt in range(5):
        assert wrong_page_login(client, user.email).status_code == 200, attempt
    refused = wrong_page_login(client, user.email)
    assert refused.status_code == 429
    assert_retry_after(refused)
    page = refused.get_data(as_text=True)
    assert "Slow down" in page and "Too many failed sign-ins" in page
    # Even the right password waits now: this account's budget at this IP is spent.
    right = client.post(
        "/login", data={"email": user.email, "password": PASSWORD, "csrf_token": csrf_token(client, "/login")}
    )
    assert right.status_code == 429
    assert client.get("/login").status_code == 200  # only attempts count, not showing the form


def test_page_form_and_token_endpoint_share_one_budget(app, client, make_user):
    user = make_user()
    for _ in range(3):
        assert wrong_page_login(client, user.email).status_code == 200
    for _ in range(2):
        response = client.post("/api/v1/auth/token", json={"email": user.email, "password": "nope-nope"})
        assert response.status_code == 401
    refused = client.post("/api/v1/auth/token", json={"email": user.email, "password": PASSWORD})
    assert refused.status_code == 429
    assert_retry_after(refused)
    error = refused.get_json()["error"]
    assert error["code"] == "rate_limited" and "Try again in" in error["message"]

    elsewhere = app.test_client()
    response = elsewhere.post(
        "/api/v1/auth/token", json={"email": user.email, "password": PASSWORD}, environ_base=from_ip("10.0.0.2")
    )
    assert response.status_code == 200


def test_api_allows_100_calls_a_minute_per_user(app, client, make_user, bearer):
    app.config["API_RATE_LIMIT"] = Config.API_RATE_LIMIT  # the default (tests that poll get more)
    assert Config.API_RATE_LIMIT == "100 per minute"
    first, second = make_user(), make_user()
    for call in range(100):
        assert client.get("/api/v1/events", headers=bearer(first)).status_code == 200, call
    refused = client.get("/api/v1/events", headers=bearer(first))
    assert refused.status_code == 429 and refused.get_json()["error"]["code"] == "rate_limited"
    assert_retry_after(refused, 60)
    # Same IP, other user, and anonymous callers from that IP: their own budgets.
    assert client.get("/api/v1/events", headers=bearer(second)).status_code == 200
    assert client.get("/api/v1/events").status_code == 200


def test_anonymous_api_calls_are_limited_per_ip(app, client):
    app.config["API_RATE_LIMIT"] = "3 per minute"
    for _ in range(3):
        assert client.get("/api/v1/events").status_code == 200
    assert client.get("/api/v1/events").status_code == 429
    assert client.get("/api/v1/events", environ_base=from_ip("10.0.0.3")).status_code == 200


def test_the_token_endpoint_also_counts_against_the_api_budget(app, client):
    app.config["API_RATE_LIMIT"] = "2 per minute"
    for _ in range(2):
        assert client.post("/api/v1/auth/token", json={"email": "x@example.com", "password": "y"}).status_code == 401
    refused = client.post("/api/v1/auth/token", json={"email": "x@example.com", "password": "y"})
    assert refused.status_code == 429 and "API calls" in refused.get_json()["error"]["message"]


@subscribe_by_email_limit()
def stand_in_subscribe():
    """What the subscribe-by-email endpoint will look like. Decorated once, at import, as views
    are: the limiter is process-wide and remembers each decoration."""
    return {"subscribed": True}


@pytest.fixture
def subscribe_client(app):
    app.add_url_rule("/api/v1/test-subscribe", view_func=stand_in_subscribe, methods=["POST"])
    return app.test_client()


def subscribe(client, email: str, ip: str):
    return client.post("/api/v1/test-subscribe", json={"email": email}, environ_base=from_ip(ip))


@pytest.mark.own_app  # subscribe_client adds a route
def test_subscribe_by_email_is_limited_per_address(app, subscribe_client):
    # 3 an hour for one address, whoever asks, however they spell it.
    for n, spelling in enumerate(["victim@example.com", "Victim@Example.com ", "VICTIM@example.com"]):
        assert subscribe(subscribe_client, spelling, f"10.1.0.{n}").status_code == 200
    refused = subscribe(subscribe_client, "victim@example.com", "10.1.0.9")
    assert refused.status_code == 429
    assert refused.get_json()["error"]["code"] == "rate_limited"
    assert "that address" in refused.get_json()["error"]["message"]
    assert subscribe(subscribe_client, "someone-else@example.com", "10.1.0.9").status_code == 200


@pytest.mark.own_app  # subscribe_client adds a route
def test_subscribe_by_email_is_limited_per_ip(subscribe_client):
    for n in range(20):
        assert subscribe(subscribe_client, f"person{n}@example.com", "10.2.0.1").status_code == 200
    refused = subscribe(subscribe_client, "one-more@example.com", "10.2.0.1")
    assert refused.status_code == 429 and "your network" in refused.get_json()["error"]["message"]
    assert subscribe(subscribe_client, "one-more@example.com", "10.2.0.2").status_code == 200


@pytest.mark.own_app  # subscribe_client adds a route
def test_subscribe_without_an_address_counts_only_against_the_ip(app, subscribe_client):
    app.config["SUBSCRIBE_RATE_LIMIT_PER_IP"] = "2 per hour"
    for _ in range(2):
        response = subscribe_client.post("/api/v1/test-subscribe", json={}, environ_base=from_ip("10.3.0.1"))
        assert response.status_code == 200
    response = subscribe_client.post("/api/v1/test-subscribe", json={}, environ_base=from_ip("10.3.0.1"))
    assert response.status_code == 429


@pytest.fixture
def redis_ip():
    """A made-up client IP whose counters this test removes from the shared Redis afterwards."""
    ip = f"10.{uuid.uuid4().int % 250}.{uuid.uuid4().int % 250}.{uuid.uuid4().int % 250}"
    yield ip
    connection = redis.Redis.from_url(REDIS_URL)
    for key in connection.scan_iter(f"*ip:{ip}*"):
        connection.delete(key)


def test_counters_live_in_redis_when_configured(app, redis_ip, make_user):
    user = make_user()
    settings = {**app.config, "RATELIMIT_STORAGE_URL": REDIS_URL}
    first_process = create_app(settings).test_client()
    for _ in range(4):
        assert wrong_page_login_from(first_process, user.email, redis_ip).status_code == 200
    assert list(redis.Redis.from_url(REDIS_URL).scan_iter(f"*ip:{redis_ip}*"))
    # A success in another web process sharing the Redis clears those failures for both...
    second_process = create_app(settings).test_client()
    second_process.environ_base.update(from_ip(redis_ip))
    assert page_login(second_process, user.email).status_code == 302
    for attempt in range(5):
        assert wrong_page_login_from(first_process, user.email, redis_ip).status_code == 200, attempt
    # ...and each sees the failures the other counted.
    assert wrong_page_login_from(second_process, user.email, redis_ip).status_code == 429


def wrong_page_login_from(client, email: str, ip: str):
    client.environ_base.update(from_ip(ip))
    return wrong_page_login(client, email)


def test_sign_ins_that_succeed_cost_nothing(app, make_user):
    """Everyone at an office, a venue's Wi-Fi or behind a carrier's NAT shares an IP."""
    for person in range(12):
        browser = app.test_client()
        assert page_login(browser, make_user().email).status_code == 302, person
    for person in range(12):
        response = app.test_client().post("/api/v1/auth/token", json={"email": make_user().email, "password": PASSWORD})
        assert response.status_code == 200, person


def test_a_success_clears_that_accounts_failures(app, client, make_user):
    user, other = make_user(), make_user()
    for _ in range(4):
        assert wrong_page_login(client, user.email).status_code == 200
        assert wrong_page_login(client, other.email).status_code == 200
    assert page_login(app.test_client(), user.email).status_code == 302
    for attempt in range(5):  # a fresh budget of 5 for this account
        assert wrong_page_login(client, user.email).status_code == 200, attempt
    assert wrong_page_login(client, user.email).status_code == 429
    # The other account's failures at this IP still count: one left.
    assert wrong_page_login(client, other.email).status_code == 200
    assert wrong_page_login(client, other.email).status_code == 429


def test_failures_count_per_account_and_ip(app, client, make_user):
    user, neighbour = make_user(), make_user()
    for _ in range(5):
        assert wrong_page_login(client, user.email).status_code == 200
    assert wrong_page_login(client, user.email).status_code == 429
    # The same account from elsewhere, and someone else from the same network, are not held up.
    elsewhere = app.test_client()
    elsewhere.environ_base.update(from_ip("10.0.0.7"))
    assert page_login(elsewhere, user.email).status_code == 302
    assert page_login(app.test_client(), neighbour.email).status_code == 302
    response = client.post("/api/v1/auth/token", json={"email": neighbour.email, "password": PASSWORD})
    assert response.status_code == 200


def test_an_ip_has_a_higher_ceiling_across_accounts(app, client, make_user):
    """Guessing one password across many accounts (spraying) from one IP."""
    app.config["LOGIN_RATE_LIMIT_PER_IP"] = "8 per 15 minutes"
    for attempt in range(8):
        assert wrong_page_login(client, f"someone{attempt}@example.com").status_code == 200, attempt
    assert wrong_page_login(client, "someone-else@example.com").status_code == 429
    response = client.post("/api/v1/auth/token", json={"email": make_user().email, "password": PASSWORD})
    assert response.status_code == 429
    elsewhere = app.test_client()
    elsewhere.environ_base.update(from_ip("10.0.0.8"))
    assert wrong_page_login(elsewhere, "someone0@example.com").status_code == 200


def test_the_refusal_says_how_long_as_a_person_would(client, make_user):
    user = make_user()
    for _ in range(5):
        wrong_page_login(client, user.email)
    page = wrong_page_login(client, user.email)
    assert page.status_code == 429
    assert "about 15 minutes" in page.get_data(as_text=True) and "seconds" not in page.get_data(as_text=True)
    api = client.post("/api/v1/auth/token", json={"email": user.email, "password": "nope-nope"})
    assert api.status_code == 429 and "about 15 minutes" in api.get_json()["error"]["message"]
    assert 14 * 60 < int(api.headers["Retry-After"]) <= 15 * 60


@pytest.mark.parametrize("storage, dev, warned", [("", False, True), (REDIS_URL, False, False), ("", True, False)])
def test_production_web_processes_warn_when_each_counts_on_its_own(caplog, storage, dev, warned):
    warn_if_counted_per_process({"RATELIMIT_ENABLED": True, "RATELIMIT_STORAGE_URL": storage, "DEV": dev})
    assert ("SOONISH_RATELIMIT_STORAGE_URL" in caplog.text) is warned
