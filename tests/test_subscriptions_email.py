"""Anonymous followers by email: confirm link, manage link, one-click unsubscribe, and the
anonymous → account merge; mail goes through a real SMTP server."""
import re

from datetime import datetime

import pytest
from icalendar import Calendar

from soonish.field_limits import DISPLAY_NAME_MAX
from soonish.models import Rsvp, RsvpAnswer, Subscription, SubscriptionStatus, User, db

from .api_helpers import create_event
from .conftest import PASSWORD, csrf_token

LINK = re.compile(r"http://soonish\.test(/\S+)")


def links_in(mail) -> list[str]:
    return LINK.findall(mail.get_body(preferencelist=("plain",)).get_content())


def path_with(mail, prefix: str) -> str:
    return next(p for p in links_in(mail) if p.startswith(prefix))


@pytest.fixture
def event(client, make_user, bearer, worker):
    return create_event(client, bearer(make_user("host@example.com")), title="Book club")


def subscribe_by_form(client, event, email):
    page = f"/e/{event['slug']}"
    return client.post(f"{page}/subscribe", data={"email": email, "csrf_token": csrf_token(client, page)})


def only_subscription(app) -> Subscription:
    with app.app_context():
        return db.session.query(Subscription).one()


def test_confirm_link_from_the_mail_activates_the_subscription(app, client, event, smtp_sink):
    response = subscribe_by_form(client, event, "Reader@Example.com")
    assert response.status_code == 302
    assert only_subscription(app).status == SubscriptionStatus.PENDING

    confirm_mail = smtp_sink.wait_for(1)[0]
    assert confirm_mail["X-Envelope-To"] == "reader@example.com"
    assert "Book club" in confirm_mail["Subject"]
    assert confirm_mail["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert confirm_mail.get_body(preferencelist=("html",)) is not None
    # The mail is the ticket: the event as a calendar entry to add (PUBLISH), as the downloads have it.
    ics_part = next(part for part in confirm_mail.iter_attachments() if part.get_content_type() == "text/calendar")
    assert ics_part.get_param("method") == "PUBLISH" and ics_part.get_filename() == f"{event['slug']}.ics"
    calendar = Calendar.from_ical(ics_part.get_payload(decode=True))
    assert calendar["method"] == "PUBLISH"
    entry = calendar.walk("VEVENT")[0]
    assert str(entry["summary"]) == "Book club"
    assert entry.decoded("dtstart") == datetime.fromisoformat(event["starts_at"])

    page = client.get(path_with(confirm_mail, "/s/confirm/"))
    assert page.status_code == 200 and "You're following" in page.get_data(as_text=True)
    assert only_subscription(app).status == SubscriptionStatus.ACTIVE

    # The welcome message follows through the event's workflow, with manage links and headers.
    welcome = smtp_sink.wait_for(2)[1]
    assert welcome["Subject"] == "You're following Book club"
    assert welcome["List-Unsubscribe"].strip().startswith("<http://soonish.test/s/unsubscribe/")
    assert welcome["Message-ID"].startswith("<soonish-")
    paths = links_in(welcome)
    assert any(p.startswith("/s/manage/") for p in paths) and any(p.startswith("/s/unsubscribe/") for p in paths)
    # Confirming again is harmless and sends nothing more.
    assert client.get(path_with(confirm_mail, "/s/confirm/")).status_code == 200


def test_the_subscribe_box_remembers_what_this_browser_did(app, client, event, smtp_sink):
    page = f"/e/{event['slug']}"
    subscribe_by_form(client, event, "reader@example.com")
    assert "Check your inbox" in client.get(page).get_data(as_text=True)
    assert "Are you going?" in app.test_client().get(page).get_data(as_text=True)  # another browser
    confirm_mail = smtp_sink.wait_for(1)[0]
    client.get(path_with(confirm_mail, "/s/confirm/"))
    assert "You're following by email" in client.get(page).get_data(as_text=True)
    client.post(path_with(confirm_mail, "/s/unsubscribe/"))
    assert "Are you going?" in client.get(page).get_data(as_text=True)


def test_a_forged_or_unknown_link_is_refused_politely(client, event):
    for path in ("/s/confirm/not-a-token", "/s/manage/forged.token", "/s/unsubscribe/x"):
        response = client.get(path)
        assert response.status_code == 404


def test_one_click_post_unsubscribes_but_get_does_not(app, client, event, smtp_sink):
    subscribe_by_form(client, event, "reader@example.com")
    client.get(path_with(smtp_sink.wait_for(1)[0], "/s/confirm/"))
    welcome = smtp_sink.wait_for(2)[1]
    unsubscribe_url = welcome["List-Unsubscribe"].strip().strip("<>").replace("http://soonish.test", "")

    # A link scanner's GET only shows a confirmation page.
    assert client.get(unsubscribe_url).status_code == 200
    assert only_subscription(app).status == SubscriptionStatus.ACTIVE

    # The mail provider's RFC 8058 POST, with no cookie and no CSRF token, unsubscribes.
    fresh = app.test_client()
    response = fresh.post(unsubscribe_url, data="List-Unsubscribe=One-Click",
                          content_type="application/x-www-form-urlencoded")
    assert response.status_code == 200
    assert only_subscription(app).status == SubscriptionStatus.UNSUBSCRIBED


def test_manage_link_changes_reminders_and_rejects_bad_offsets(app, client, event, smtp_sink):
    subscribe_by_form(client, event, "reader@example.com")
    manage = path_with(smtp_sink.wait_for(1)[0], "/s/manage/")
    response = client.post(manage, data={"reminder_offsets": "2d 30m", "csrf_token": csrf_token(client, manage)})
    assert response.status_code == 302
    assert only_subscription(app).reminder_offsets == [172800, 1800]
    page = client.post(manage, data={"reminder_offsets": "99y", "csrf_token": csrf_token(client, manage)})
    assert "not an offset like 1d" in page.get_data(as_text=True)
    page = client.post(manage, data={"reminder_offsets": "1m", "csrf_token": csrf_token(client, manage)})
    assert "out of range" in page.get_data(as_text=True)
    assert only_subscription(app).reminder_offsets == [172800, 1800]


def test_bad_email_gets_a_form_error(app, client, event):
    response = subscribe_by_form(client, event, "not-an-email")
    assert response.status_code == 422
    # The validator's message is a lazy string, escaped like any text (soonish/i18n/__init__.py LazyText).
    assert "doesn&#39;t look like an email address" in response.get_data(as_text=True)
    with app.app_context():
        assert db.session.query(Subscription).count() == 0


def test_api_subscribe_by_email_without_a_token(app, client, event, smtp_sink):
    response = client.post(f"/api/v1/events/{event['id']}/subscriptions", json={"email": "api-reader@example.com"})
    assert response.status_code == 202 and response.get_json()["status"] == "pending"
    assert smtp_sink.wait_for(1)[0]["X-Envelope-To"] == "api-reader@example.com"
    missing = client.post(f"/api/v1/events/{event['id']}/subscriptions", json={})
    assert missing.status_code == 422 and "email" in missing.get_json()["error"]["fields"]


def test_going_through_the_api_with_a_name_is_answered_when_the_confirm_link_is_opened(
        app, client, make_user, bearer, event, smtp_sink):
    """The API's follow by email says "I'm going" as the event page's form does: a name for a new
    address, going and listed answered by the confirm link; refused, naming the field, where the
    name is too long, where the caller is signed in (the RSVP endpoint answers them) and where
    the event takes no answers."""
    url = f"/api/v1/events/{event['id']}/subscriptions"
    too_long = client.post(url, json={"email": "ada@example.com", "name": "n" * (DISPLAY_NAME_MAX + 1), "going": True})
    assert too_long.status_code == 422 and "name" in too_long.get_json()["error"]["fields"]
    response = client.post(url, json={"email": "ada@example.com", "name": "Ada", "going": True, "listed": True})
    assert response.status_code == 202 and response.get_json()["status"] == "pending"
    confirm_mail = smtp_sink.wait_for(1)[0]
    with app.app_context():
        assert db.session.query(Rsvp).count() == 0  # nothing is answered before the address is proven
    assert client.get(path_with(confirm_mail, "/s/confirm/")).status_code == 200
    with app.app_context():
        ada = db.session.query(User).filter_by(email="ada@example.com").one()
        rsvp = db.session.query(Rsvp).filter_by(user_id=ada.id, event_id=event["id"]).one()
        assert (ada.display_name, rsvp.answer, rsvp.listed) == ("Ada", RsvpAnswer.GOING, True)
        assert only_subscription(app).status == SubscriptionStatus.ACTIVE

    signed_in = client.post(url, json={"going": True}, headers=bearer(make_user("kim@example.com")))
    assert signed_in.status_code == 422, signed_in.get_json()
    assert "/rsvp" in signed_in.get_json()["error"]["fields"]["going"][0]

    organizer = bearer(make_user("quiet-host@example.com"))
    quiet = create_event(client, organizer, title="No answers here")
    off = client.put(f"/api/v1/events/{quiet['id']}/rsvp-settings", json={"enabled": False}, headers=organizer)
    assert off.status_code == 200, off.get_json()
    refused = client.post(f"/api/v1/events/{quiet['id']}/subscriptions", json={"email": "bo@example.com", "going": True})
    assert refused.status_code == 409 and "going" in refused.get_json()["error"]["fields"]
    kept_posted = client.post(f"/api/v1/events/{quiet['id']}/subscriptions", json={"email": "bo@example.com"})
    assert kept_posted.status_code == 202


def test_registering_later_claims_the_anonymous_subscriptions(app, client, event, smtp_sink):
    subscribe_by_form(client, event, "reader@example.com")
    client.get(path_with(smtp_sink.wait_for(1)[0], "/s/confirm/"))
    smtp_sink.wait_for(2)
    smtp_sink.clear()

    # Someone registers with the address: nothing is revealed until the mailbox proves it.
    response = client.post("/register", data={
        "email": "reader@example.com", "password": PASSWORD, "confirm": PASSWORD,
        "csrf_token": csrf_token(client, "/register"),
    })
    assert response.status_code == 302 and response.headers["Location"] == "/login"
    assert client.get("/api/v1/me/subscriptions").status_code == 401

    claim = smtp_sink.wait_for(1)[0]
    verify = path_with(claim, "/verify/")
    assert "Finish your account" in client.get(verify).get_data(as_text=True)
    response = client.post(verify, data={"password": PASSWORD, "csrf_token": csrf_token(client, verify)})
    assert response.status_code == 302
    mine = client.get("/api/v1/me/subscriptions").get_json()["items"]
    assert [s["event_id"] for s in mine] == [event["id"]]
    with app.app_context():
        user = db.session.query(User).filter_by(email="reader@example.com").one()
        assert user.is_verified and user.password_hash
        assert db.session.query(User).filter_by(email="reader@example.com").count() == 1



@pytest.mark.usefixtures("worker")
def test_new_account_verify_link_marks_the_address_verified(app, client, smtp_sink):
    client.post("/register", data={
        "email": "fresh@example.com", "password": PASSWORD, "confirm": PASSWORD,
        "csrf_token": csrf_token(client, "/register"),
    })
    verify = path_with(smtp_sink.wait_for(1)[0], "/verify/")
    assert client.get(verify).status_code == 302
    with app.app_context():
        assert db.session.query(User).filter_by(email="fresh@example.com").one().is_verified


def test_dev_outbox_is_there_only_without_a_mail_server(app_config):
    from soonish.web import create_app

    assert create_app({**app_config, "DEV": True}).test_client().get("/dev/outbox").status_code == 404
    outbox = create_app({**app_config, "DEV": True, "SMTP_HOST": ""}).test_client().get("/dev/outbox")
    assert outbox.status_code == 200 and "mail Soonish sends lands here" in outbox.get_data(as_text=True)


def test_the_same_address_following_twice_at_the_same_instant_makes_one_follow_and_one_mail(app, make_user, bearer):
    """Two requests at once (a double tap, two tabs) both find no account for the address: one
    makes it, the other finds it on its retry; never a 500, never a second account or mail."""
    import threading

    from soonish.models import OutboxItem, OutboxKind

    event = create_event(app.test_client(), bearer(make_user("host@example.com")))
    url = f"/api/v1/events/{event['id']}/subscriptions"
    start = threading.Barrier(3)
    answers = []

    def follow() -> None:
        client = app.test_client()
        start.wait()
        answers.append(client.post(url, json={"email": "twice@example.com"}).status_code)

    threads = [threading.Thread(target=follow) for _ in range(3)]  # the address's limit is 3 an hour
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert answers == [202] * 3
    with app.app_context():
        assert db.session.query(User).filter_by(email="twice@example.com").count() == 1
        assert db.session.query(Subscription).filter_by(event_id=event["id"]).count() == 1
        assert db.session.query(OutboxItem).filter_by(kind=OutboxKind.CONFIRM_MAIL).count() == 1
        db.session.remove()
