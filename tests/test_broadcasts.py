"""Broadcasts reach every active subscriber once on each selected channel, counted at real
sinks (an HTTP sink for json:// webhooks, an SMTP server for mail)."""
import logging
from collections import Counter

import pytest
from sqlalchemy import text

from soonish.models import Delivery, db

from .api_helpers import add_integration, announce, create_event, follow_by_webhook, reports, subscribe
from .conftest import csrf_token
from loopback.sinks import wait_until


def announcements_at(sink, title: str, path: str | None = None):
    return [r for r in sink.delivered(path) if isinstance(r.body, dict) and r.body.get("title") == title]


def mails_titled(smtp_sink, title: str):
    return [m for m in smtp_sink.messages if m["Subject"] == title]


@pytest.fixture
def organizer(make_user, bearer):
    return bearer(make_user("host@example.com"))


def test_broadcast_routes_by_selectors_and_reaches_each_active_subscriber_once(
    app, client, make_user, bearer, organizer, worker, http_sink, smtp_sink
):
    event = create_event(client, organizer)
    # Ada: one explicit channel, and the tag "urgent" (two channels carry it, one paused).
    ada = bearer(make_user("ada@example.com"))
    explicit = add_integration(client, ada, http_sink.url("/ada/explicit"))
    add_integration(client, ada, http_sink.url("/ada/urgent-1"), tag="urgent")
    paused = add_integration(client, ada, http_sink.url("/ada/urgent-paused"), tag="urgent")
    client.patch(f"/api/v1/integrations/{paused['id']}", json={"is_active": False}, headers=ada)
    add_integration(client, ada, http_sink.url("/ada/unselected"))
    subscribe(client, ada, event["id"], selectors=[{"integration_id": explicit["id"]}, {"tag": "urgent"}])
    # Bob: no selectors, so his account email.
    bob = bearer(make_user("bob@example.com"))
    subscribe(client, bob, event["id"])
    # Cy: subscribed then left. Dee: anonymous and never confirmed.
    cy = bearer(make_user("cy@example.com"))
    cy_webhook = add_integration(client, cy, http_sink.url("/cy"))
    cy_sub = subscribe(client, cy, event["id"], selectors=[{"integration_id": cy_webhook["id"]}])
    assert client.delete(f"/api/v1/subscriptions/{cy_sub['id']}", headers=cy).status_code == 204
    client.post(f"/api/v1/events/{event['id']}/subscriptions", json={"email": "dee@example.com"})

    announce(client, organizer, event["id"], "Doors open at 7", "Bring a friend.")

    wait_until(lambda: len(announcements_at(http_sink, "Doors open at 7")) >= 2 and mails_titled(smtp_sink, "Doors open at 7"),
               message="the announcement at every channel")
    wait_until(lambda: reports(client, organizer, event["id"])[0]["counts"]["pending"] == 0, message="no pending")
    paths = Counter(r.path for r in announcements_at(http_sink, "Doors open at 7"))
    assert paths == {"/ada/explicit": 1, "/ada/urgent-1": 1}
    mail_to = Counter(m["X-Envelope-To"] for m in mails_titled(smtp_sink, "Doors open at 7"))
    assert mail_to == {"bob@example.com": 1}

    report = reports(client, organizer, event["id"])[0]
    assert report["notification"]["kind"] == "announcement"
    assert report["counts"] == {"sent": 3, "failed": 0, "pending": 0, "skipped": 0, "suppressed": 0}


def test_every_message_carries_its_delivery_key(app, client, make_user, bearer, organizer, worker, http_sink, smtp_sink):
    event = create_event(client, organizer)
    reader = bearer(make_user("reader@example.com"))
    hook = add_integration(client, reader, http_sink.url("/hook"), tag="push")
    subscribe(client, reader, event["id"], selectors=[{"tag": "push"}])
    announce(client, organizer, event["id"], "Keyed")
    wait_until(lambda: announcements_at(http_sink, "Keyed"))
    request = announcements_at(http_sink, "Keyed")[0]
    with app.app_context():
        delivery = db.session.query(Delivery).filter_by(target=f"integration:{hook['id']}").order_by(Delivery.id.desc()).first()
    assert request.headers["Idempotency-Key"] == f"soonish-{delivery.id}"
    assert request.body["soonish"]["delivery_key"] == f"soonish-{delivery.id}"
    assert request.body["message"].startswith("When:") or "When:" in request.body["message"]


def test_edit_and_cancel_are_broadcast(app, client, make_user, bearer, organizer, worker, smtp_sink):
    event = create_event(client, organizer, title="Picnic", location="Park")
    subscribe(client, bearer(make_user("reader@example.com")), event["id"])
    client.patch(f"/api/v1/events/{event['id']}", json={"location": "Town hall (rain)"}, headers=organizer)
    updated = wait_until_mail(smtp_sink, "Updated: Picnic")
    assert "New place: Town hall (rain) (was Park)" in updated.get_body(preferencelist=("plain",)).get_content()
    # A description edit is not worth a message.
    client.patch(f"/api/v1/events/{event['id']}", json={"description": "Bring blankets"}, headers=organizer)
    client.post(f"/api/v1/events/{event['id']}/cancel", headers=organizer)
    wait_until_mail(smtp_sink, "Cancelled: Picnic")
    kinds = [r["notification"]["kind"] for r in reports(client, organizer, event["id"])]
    assert kinds == ["cancel", "update", "welcome"]


def wait_until_mail(smtp_sink, subject: str):
    wait_until(lambda: mails_titled(smtp_sink, subject), message=f"mail {subject!r}")
    return mails_titled(smtp_sink, subject)[0]


@pytest.fixture
def small_groups(app_config):
    app_config["DELIVERY_CONCURRENCY"] = 5
    return app_config


def test_a_batch_that_fails_halfway_is_retried_and_each_recipient_gets_it_once(
    small_groups, app, client, make_user, bearer, organizer, worker, http_sink
):
    event = create_event(client, organizer)
    for n in range(10):
        reader = bearer(make_user(f"r{n}@example.com"))
        follow_by_webhook(client, reader, event["id"], http_sink.url(f"/r{n}"))
    wait_until(lambda: len(http_sink.delivered()) == 10, message="welcome messages")
    http_sink.clear()
    # The receiver answers the first group, then fails the next five requests: the batch
    # records five sends, raises, and Temporal retries it after a backoff.
    http_sink.failing = range(6, 11)
    announce(client, organizer, event["id"], "Halfway")
    wait_until(lambda: len(announcements_at(http_sink, "Halfway")) == 10, message="all ten delivered")
    wait_until(lambda: reports(client, organizer, event["id"])[0]["counts"]["sent"] == 10)
    assert Counter(r.path for r in announcements_at(http_sink, "Halfway")) == {f"/r{n}": 1 for n in range(10)}
    assert len(http_sink.received) == 15  # ten delivered, five refused once
    # The batch named its wait (DELIVERY_RETRY's first second): the retry policy's own 0.1 s is
    # for timed-out batches only.
    last_refused = max(r.received_at for r in http_sink.received if r.status != 200)
    first_retried = min(r.received_at for r in announcements_at(http_sink, "Halfway") if r.received_at > last_refused)
    assert (first_retried - last_refused).total_seconds() >= 1
    with app.app_context():
        attempts = sorted(d.attempts for d in db.session.query(Delivery).filter(Delivery.notification_id == reports(client, organizer, event["id"])[0]["notification"]["id"]))
    assert attempts == [1] * 5 + [2] * 5


def test_permanent_failures_are_reported_with_their_reason_and_no_secret(
    app, client, make_user, bearer, organizer, worker, http_sink, caplog
):
    event = create_event(client, organizer)
    reader = bearer(make_user("reader@example.com"))
    secret_url = f"json://hookuser:hunter2-secret@127.0.0.1:{http_sink.port}/gone"
    follow_by_webhook(client, reader, event["id"], secret_url)
    http_sink.failing, http_sink.failing_status = range(1, 100), 410
    caplog.set_level(logging.DEBUG)
    announce(client, organizer, event["id"], "Will fail")
    wait_until(lambda: reports(client, organizer, event["id"])[0]["counts"]["failed"] == 1, timeout=60)
    report = reports(client, organizer, event["id"])[0]
    # "Gone" will not heal: failed at once, not retried.
    assert report["failures"] == [{"reason": "http://127.0.0.1 answered HTTP 410", "count": 1}]
    assert len([r for r in http_sink.received if r.body["title"] == "Will fail"]) == 1
    logged = "\n".join(r.getMessage() + str(r.__dict__) for r in caplog.records)
    assert "hunter2-secret" not in logged


def test_the_url_is_encrypted_at_rest_and_only_shown_masked(app, client, make_user, bearer, http_sink, caplog):
    reader = bearer(make_user("reader@example.com"))
    url = f"json://hookuser:hunter2-secret@127.0.0.1:{http_sink.port}/private-path"
    caplog.set_level(logging.DEBUG)
    created = add_integration(client, reader, url, tag="urgent")
    assert created["url_mask"] == "json://127.0.0.1" and "url" not in created
    assert created["channel"] == "webhook"
    test = client.post(f"/api/v1/integrations/{created['id']}/test", headers=reader)
    assert test.get_json() == {"delivered": True, "error": None}
    assert http_sink.delivered("/private-path")[0].body["title"] == "Soonish test message"
    with app.app_context():
        raw = db.session.execute(text("SELECT * FROM integrations")).one()
    row_text = " ".join(str(bytes(v) if isinstance(v, (bytes, memoryview)) else v) for v in raw)
    assert "hunter2-secret" not in row_text and "private-path" not in row_text
    logged = "\n".join(r.getMessage() + str(r.__dict__) for r in caplog.records)
    assert "hunter2-secret" not in logged and "private-path" not in logged


def test_rotating_keys_reencrypts_every_integration(app_config, client, make_user, bearer, http_sink):
    from cryptography.fernet import Fernet

    from soonish.crypto import FieldCipher
    from soonish.models import Integration
    from soonish.services.integrations import rotate_encryption
    from soonish.web import create_app

    old_key, new_key = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    old_app = create_app({**app_config, "ENCRYPTION_KEYS": old_key})
    with old_app.app_context():
        db.create_all()
    old_client = old_app.test_client()
    reader = bearer(make_user("reader@example.com"))
    add_integration(old_client, reader, http_sink.url("/rotated"))
    new_app = create_app({**app_config, "ENCRYPTION_KEYS": f"{new_key},{old_key}"})
    with new_app.app_context():
        assert rotate_encryption() == 1
        token = db.session.query(Integration).one().apprise_url_encrypted
    assert FieldCipher([new_key]).decrypt(token) == http_sink.url("/rotated")


def test_refuses_private_hosts_unless_allowed_and_explains_bad_urls(app_config, make_user, bearer):
    from soonish.web import create_app

    app_config["ALLOW_PRIVATE_TARGETS"] = False
    app = create_app(app_config)
    client = app.test_client()
    reader = bearer(make_user("reader@example.com"))
    for url in ("json://127.0.0.1:8080/hook", "jsons://localhost/x", "form://10.1.2.3/h",
                "json://169.254.169.254/latest/meta-data", "mailto://u:p@example.com?smtp=127.0.0.1&to=x@example.com",
                "json://[::1]:9000/x"):
        response = client.post("/api/v1/integrations", json={"name": "x", "url": url}, headers=reader)
        assert response.status_code == 422, url
        assert "private address" in response.get_json()["error"]["fields"]["url"][0]
    for url in ("not a url", "http//missing-colon", "json://", "unknownscheme://host"):
        response = client.post("/api/v1/integrations", json={"name": "x", "url": url}, headers=reader)
        assert response.status_code == 422
        assert "Apprise doesn't recognise this URL" in response.get_json()["error"]["fields"]["url"][0]


def test_private_hosts_are_checked_again_at_send_time(app_config, client, make_user, bearer, organizer, worker, http_sink):
    """Saved while allowed, sent while not: the send is refused and reported, never made."""
    from soonish.web import create_app

    create_event(client, organizer)
    reader = bearer(make_user("reader@example.com"))
    hook = add_integration(client, reader, http_sink.url("/inside"))
    strict = create_app({**app_config, "ALLOW_PRIVATE_TARGETS": False})
    with strict.app_context():
        from soonish.services.integrations import send_test
        from soonish.models import User
        user = db.session.query(User).filter_by(email="reader@example.com").one()
        assert "private address" in send_test(user, hook["id"])
    assert http_sink.delivered("/inside") == []


def test_selectors_must_be_the_users_own(client, make_user, bearer, organizer, worker, http_sink):
    event = create_event(client, organizer)
    owner = bearer(make_user("owner@example.com"))
    theirs = add_integration(client, owner, http_sink.url("/theirs"), tag="urgent")
    thief = bearer(make_user("thief@example.com"))
    for selectors, message in (([{"integration_id": theirs["id"]}], "not one of yours"),
                               ([{"tag": "urgent"}], "has the tag"),
                               ([{"chat_identity_id": 4242}], "Chat account 4242 is not one of yours"),
                               ([{"integration_id": theirs["id"], "tag": "urgent"}],
                                "one integration_id, one tag or one chat_identity_id")):
        response = client.post(f"/api/v1/events/{event['id']}/subscriptions", json={"selectors": selectors}, headers=thief)
        assert response.status_code == 422
        assert message in response.get_json()["error"]["fields"]["selectors"][0]
    assert client.get(f"/api/v1/integrations/{theirs['id']}", headers=thief).status_code == 404
    assert client.post(f"/api/v1/integrations/{theirs['id']}/test", headers=thief).status_code == 404


def test_subscribing_twice_is_idempotent(app, client, make_user, bearer, organizer, worker, smtp_sink):
    event = create_event(client, organizer)
    reader = bearer(make_user("reader@example.com"))
    first = client.post(f"/api/v1/events/{event['id']}/subscriptions", json={"reminder_offsets": ["2h"]}, headers=reader)
    second = client.post(f"/api/v1/events/{event['id']}/subscriptions", json={}, headers=reader)
    assert first.status_code == 201 and second.status_code == 200
    assert first.get_json()["id"] == second.get_json()["id"]
    assert second.get_json()["reminder_offsets"] == [7200]
    assert len(client.get("/api/v1/me/subscriptions", headers=reader).get_json()["items"]) == 1
    wait_until_mail(smtp_sink, "You're following Launch party")
    assert len(mails_titled(smtp_sink, "You're following Launch party")) == 1


def test_subscription_patch_validates_offsets(client, make_user, bearer, organizer, worker):
    event = create_event(client, organizer)
    reader = bearer(make_user("reader@example.com"))
    sub = subscribe(client, reader, event["id"])
    ok = client.patch(f"/api/v1/subscriptions/{sub['id']}", json={"reminder_offsets": ["1d", "15m", 7200]}, headers=reader)
    assert ok.status_code == 200 and ok.get_json()["reminder_offsets"] == [86400, 7200, 900]
    for bad in (["99y"], ["1m"], ["31d"], [True], ["1d", "2d", "3d", "4d", "5d", "6d"], "1d"):
        response = client.patch(f"/api/v1/subscriptions/{sub['id']}", json={"reminder_offsets": bad}, headers=reader)
        assert response.status_code == 422, bad
        fields = response.get_json()["error"]["fields"]
        assert any(name.split(".")[0] == "reminder_offsets" for name in fields), fields
    stranger = bearer(make_user("stranger@example.com"))
    assert client.patch(f"/api/v1/subscriptions/{sub['id']}", json={"reminder_offsets": []}, headers=stranger).status_code == 404


def test_organizer_page_shows_delivery_counts(app, client, make_user, bearer, login, worker, smtp_sink):
    host = make_user("host@example.com")
    login(host)
    event = create_event(client, bearer(host), title="Demo night")
    subscribe(client, bearer(make_user("reader@example.com")), event["id"])
    page = f"/e/{event['slug']}"
    response = client.post(f"/events/{event['id']}/announce", data={"title": "Hello all", "body": "See you", "csrf_token": csrf_token(client, page)})
    assert response.status_code == 302
    wait_until_mail(smtp_sink, "Hello all")
    wait_until(lambda: 'data-count="pending">0' in client.get(f"/events/{event['id']}/deliveries").get_data(as_text=True)
               and "Hello all" in client.get(f"/events/{event['id']}/deliveries").get_data(as_text=True))
    html = client.get(page).get_data(as_text=True)
    assert "1 follower" in html and "Hello all" in html and 'data-count="sent">1' in html
