"""Email to another address as a channel: mailed a verification link, it gets nothing until the
link's page is confirmed (with a POST: opening the link changes nothing), then it receives
updates through our SMTP like the account's own address (real worker, SMTP sink)."""
import re
from datetime import timedelta

from soonish.models import Integration, db

from .api_helpers import announce, create_event, subscribe
from .conftest import csrf_token
from loopback.sinks import wait_until

WORK = "work@example.com"
VERIFY_PATH = re.compile(r"http://soonish\.test(/channels/verify/[^\s]+)")


def add_email_channel(client, headers, address: str = WORK, **body):
    return client.post("/api/v1/integrations", headers=headers,
                       json={"type": "email", "fields": {"address": address}, **body})


def verify_path(smtp_sink, address: str = WORK) -> str:
    wait_until(lambda: smtp_sink.to(address), message=f"the verification mail to {address}")
    mail = smtp_sink.to(address)[-1]
    assert mail["Subject"] == "Confirm: get Soonish updates at this address"
    return VERIFY_PATH.search(mail.get_body(preferencelist=("plain",)).get_content()).group(1)


def subjects_to(smtp_sink, address: str) -> list[str]:
    return [m["Subject"] for m in smtp_sink.to(address)]


def test_an_email_channel_gets_nothing_until_verified_then_each_announcement_once(
        app, client, make_user, bearer, worker, smtp_sink):
    organizer = bearer(make_user("host@example.com"))
    bea = bearer(make_user("bea@example.com"))
    event = create_event(client, organizer, title="Launch party")
    added = add_email_channel(client, bea, name="Work")
    assert added.status_code == 201, added.get_json()
    channel = added.get_json()
    assert channel["state"] == "waiting_for_verification" and channel["email"] == WORK
    assert channel["channel"] == "email" and channel["name"] == "Work"
    path = verify_path(smtp_sink)

    subscribe(client, bea, event["id"], selectors=[{"integration_id": channel["id"]}])
    # Someone following by email shows when the announcement has gone out.
    subscribe(client, bearer(make_user("witness@example.com")), event["id"])
    announce(client, organizer, event["id"], "Doors open at 7")
    wait_until(lambda: "Doors open at 7" in subjects_to(smtp_sink, "witness@example.com"), message="the witness's mail")
    # The witness's mail is from the same batch: nothing was planned for the unverified address.
    assert _deliveries(app, channel["id"]) == []
    assert "Doors open at 7" not in subjects_to(smtp_sink, WORK)

    # Opening the link (as a mail scanner does) changes nothing; the page's button verifies.
    page = client.get(path)
    assert page.status_code == 200 and "Confirm this address" in page.get_data(as_text=True)
    assert _state(client, bea, channel["id"]) == "waiting_for_verification"
    confirmed = client.post(path, data={"csrf_token": csrf_token(client, path)})
    assert confirmed.status_code == 200 and "Confirmed" in confirmed.get_data(as_text=True)
    assert _state(client, bea, channel["id"]) == "active"
    # One-time: the link only says it's done.
    again = client.post(path, data={"csrf_token": csrf_token(client, path)})
    assert again.status_code == 200 and "Already confirmed" in again.get_data(as_text=True)

    announce(client, organizer, event["id"], "Bring a friend")
    wait_until(lambda: "Bring a friend" in subjects_to(smtp_sink, WORK), message="the announcement at work")
    wait_until(lambda: _deliveries(app, channel["id"]) == ["sent"], message="the ledger")
    mail = next(m for m in smtp_sink.to(WORK) if m["Subject"] == "Bring a friend")
    assert mail["List-Unsubscribe"]  # the follow's own links, like any follower mail
    assert subjects_to(smtp_sink, WORK).count("Bring a friend") == 1
    assert "Bring a friend" not in subjects_to(smtp_sink, "bea@example.com")


def _deliveries(app, integration_id: int) -> list[str]:
    from soonish.models import Delivery, Notification, NotificationKind

    with app.app_context():
        rows = db.session.query(Delivery.status).join(Notification, Notification.id == Delivery.notification_id).filter(
            Delivery.target == f"integration:{integration_id}", Notification.kind == NotificationKind.ANNOUNCEMENT)
        return [status.value for (status,) in rows]


def _state(client, headers, integration_id: int) -> str:
    return client.get(f"/api/v1/integrations/{integration_id}", headers=headers).get_json()["state"]


def test_a_bad_address_is_a_field_error_and_saves_nothing(app, client, make_user, bearer, login):
    bea_user = make_user("bea@example.com")
    bea = bearer(bea_user)
    for address, expected in (("not-an-address", "doesn't look right"), ("", "required"),
                              ("bea@example.com", "your account's address")):
        response = add_email_channel(client, bea, address)
        assert response.status_code == 422, response.get_json()
        assert expected in response.get_json()["error"]["fields"]["fields.address"][0]
    login(bea_user)
    page = "/channels/new/email"
    form = client.get(page).get_data(as_text=True)
    assert 'type="email"' in form and "Add and mail the link" in form
    response = client.post(page, data={"address": "bea@", "csrf_token": csrf_token(client, page)})
    html = response.get_data(as_text=True)
    assert response.status_code == 422 and 'id="field-address-error"' in html
    with app.app_context():
        assert db.session.query(Integration).count() == 0


def test_the_page_lists_it_waiting_and_resends_at_most_every_five_minutes(app, client, make_user, login, worker,
                                                                          smtp_sink):
    bea = make_user("bea@example.com")
    login(bea)
    page = "/channels/new/email"
    added = client.post(page, data={"address": "Work@Example.com", "name": "Office",
                                    "csrf_token": csrf_token(client, page)})
    assert added.status_code == 302
    html = client.get("/channels").get_data(as_text=True)
    assert "Waiting for verification" in html and WORK in html and "Mail the link again" in html
    verify_path(smtp_sink)
    with app.app_context():
        channel = db.session.query(Integration).one()
    resend = f"/channels/{channel.id}/resend"
    too_soon = client.post(resend, data={"csrf_token": csrf_token(client, "/channels")}, follow_redirects=True)
    assert "ask again in 5 min" in too_soon.get_data(as_text=True)
    with app.app_context():
        db.session.get(Integration, channel.id).verification_sent_at -= timedelta(minutes=6)
        db.session.commit()
    sent = client.post(resend, data={"csrf_token": csrf_token(client, "/channels")}, follow_redirects=True)
    assert f"mailed a new link to {WORK}" in sent.get_data(as_text=True)
    wait_until(lambda: len(smtp_sink.to(WORK)) == 2, message="the second link")


def test_the_api_resend_answers_429_with_retry_after_and_409_once_verified(app, client, make_user, bearer, smtp_sink,
                                                                           worker):
    bea = bearer(make_user("bea@example.com"))
    channel = add_email_channel(client, bea).get_json()
    response = client.post(f"/api/v1/integrations/{channel['id']}/resend-verification", headers=bea)
    assert response.status_code == 429 and 0 < int(response.headers["Retry-After"]) <= 300
    assert response.get_json()["error"]["code"] == "rate_limited"
    path = verify_path(smtp_sink)
    client.post(path, data={"csrf_token": csrf_token(client, path)})
    assert client.post(f"/api/v1/integrations/{channel['id']}/resend-verification", headers=bea).status_code == 409
    assert client.get(path).status_code == 200  # still says it's done, changes nothing
    assert client.get(path[:-3] + "xyz").status_code == 404
    spec = client.get("/api/v1/openapi.json").get_json()
    out = spec["components"]["schemas"]["IntegrationOut"]["properties"]
    assert out["state"]["enum"] == ["active", "paused", "waiting_for_verification"]
    assert "429" in spec["paths"]["/api/v1/integrations/{integration_id}/resend-verification"]["post"]["responses"]
