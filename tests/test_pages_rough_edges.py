"""Issue 10, items 10-15 and 17: the rough edges of the pages an outside client found. Each test
fails on the code before its fix; mail, webhooks and chat go through the real worker and sinks."""
import re
import time
from datetime import datetime, timezone

import pytest

from soonish.links import LinkPurpose, sign
from soonish.models import Notification, NotificationKind, Subscription, db
from soonish.web.filters import zoned_time

from .api_helpers import add_integration, announce, create_event, follow_by_webhook, reports, subscribe
from .chat_fakes import slash_command
from .conftest import csrf_token
from loopback.sinks import wait_until

HTMX = {"HX-Request": "true"}


@pytest.fixture
def host(make_user):
    return make_user("host@example.com")


@pytest.fixture
def signed_in_host(host, login):
    login(host)
    return host


def page_text(response) -> str:
    return response.get_data(as_text=True)


# Item 10 ---------------------------------------------------------------------------------------

def test_the_event_form_shows_every_mistake_on_submit(app, client, signed_in_host):
    data = {
        "title": "", "starts_at": "2031-03-10T19:30", "ends_at": "2031-03-10T18:00", "timezone": "Europe/Paris",
        "visibility": "public", "csrf_token": csrf_token(client, "/events/new"),
    }
    for headers in ({}, HTMX):  # a plain post and htmx's submit
        page = page_text(client.post("/events/new", data=data, headers=headers))
        assert 'id="title-error"' in page and "Give the event a title." in page
        assert 'id="ends_at-error"' in page and "The end must be after the start." in page
        assert "A title is required." not in page  # the blank title is said once, not twice


# Item 11 ---------------------------------------------------------------------------------------

def pending_follow(app, client, event: dict, email: str = "reader@example.com") -> Subscription:
    page = f"/e/{event['slug']}"
    client.post(f"{page}/subscribe", data={"email": email, "csrf_token": csrf_token(client, page)})
    with app.app_context():
        return db.session.query(Subscription).filter_by(event_id=event["id"]).one()


def confirm_token(app, subscription: Subscription) -> str:
    """The token the confirm mail carries (tests/test_subscriptions_email.py reads it from the mail)."""
    return sign(app.config["SECRET_KEY"], LinkPurpose.CONFIRM, subscription.id)


@pytest.fixture
def short_confirm_links(app_config):
    app_config["CONFIRM_LINK_MAX_AGE"] = 1


def test_an_expired_confirm_link_is_gone_and_leads_back_to_following(short_confirm_links, app, client, host, bearer):
    event = create_event(client, bearer(host), title="Book club")
    token = confirm_token(app, pending_follow(app, client, event))
    time.sleep(2.1)  # the link's one second of life is over

    response = client.get(f"/s/confirm/{token}")
    assert response.status_code == 410  # gone, not "no such page"
    page = page_text(response)
    assert "That link has expired" in page and "Book club" in page
    assert re.search(rf'<a class="button" href="/e/{event["slug"]}#subscribe">Follow again</a>', page)


def test_a_damaged_confirm_link_names_only_a_public_event(app, client, host, bearer):
    public = create_event(client, bearer(host), title="Open day")
    unlisted = create_event(client, bearer(host), title="Secret supper", visibility="unlisted")
    for event, shown in ((public, True), (unlisted, False)):
        token = confirm_token(app, pending_follow(app, client, event))
        response = client.get(f"/s/confirm/{token[:-4]}")  # the mail client cut the link short
        assert response.status_code == 404
        page = page_text(response)
        assert "That link didn't work" in page
        assert ("Follow again" in page) is shown
        assert (event["slug"] in page) is shown  # an unlisted event's secret link is never given away
        assert "Browse events" in page


# Item 12 ---------------------------------------------------------------------------------------

def test_an_expired_form_says_so_plainly_and_leads_back_to_it(app, client, signed_in_host):
    form = {"title": "Book club", "starts_at": "2031-03-10T19:30", "timezone": "UTC"}  # no csrf_token
    response = client.post("/events/new", data=form, headers={"Referer": "http://localhost/events/new?from=dash"})
    assert response.status_code == 400
    page = page_text(response)
    assert "This form expired — reload and try again" in page
    assert '<a class="button" href="/events/new?from=dash">Back to the form</a>' in page
    assert "CSRF token" not in page  # the jargon of the old page

    # No referrer (it may be stripped): the form's own page, which this URL is.
    assert 'href="/events/new">Back to the form' in page_text(client.post("/events/new", data=form))
    # A referrer from another site is not followed; a POST-only URL leads home.
    elsewhere = client.post("/logout", headers={"Referer": "https://evil.example/form"})
    assert 'href="/">Back to the form' in page_text(elsewhere)
    # htmx gets the message in place of the form, not a whole page inside it.
    fragment = page_text(client.post("/events/new", data=form, headers=HTMX))
    assert fragment.lstrip().startswith("<section") and "This form expired" in fragment
    # The API keeps its JSON shape.
    api = client.post("/api/v1/events", json={"title": "x"})
    assert api.status_code == 400 and api.get_json()["error"]["code"] == "bad_request"


# Item 13 ---------------------------------------------------------------------------------------

REASON = "The speaker is ill; we'll announce a new date."


def test_a_cancellation_reason_reaches_mail_webhook_and_chat(
    chat_config, app, client, host, login, make_user, bearer, worker, http_sink, smtp_sink, fake_slack
):
    event = create_event(client, bearer(host), title="Poetry night")
    subscribe(client, bearer(make_user("bob@example.com")), event["id"])  # by account email
    follow_by_webhook(client, bearer(make_user("ada@example.com")), event["id"], http_sink.url("/ada"))
    body, headers = slash_command(fake_slack, f"subscribe {event['slug']}")
    client.post("/slack/events", data=body, headers=headers)
    fake_slack.wait_for_response(1)

    login(host)  # the organizer cancels on the event page, giving a reason
    page = f"/e/{event['slug']}"
    assert 'name="reason"' in page_text(client.get(page)) and 'maxlength="500"' in page_text(client.get(page))
    response = client.post(f"/events/{event['id']}/cancel", data={"reason": f"  {REASON} ", "csrf_token": csrf_token(client, page)})
    assert response.status_code == 302

    title = "Cancelled: Poetry night"
    wait_until(lambda: [m for m in smtp_sink.to("bob@example.com") if m["Subject"] == title], message="the cancel mail")
    mail = next(m for m in smtp_sink.to("bob@example.com") if m["Subject"] == title)
    assert REASON in mail.get_body(preferencelist=("plain",)).get_content()
    assert "The speaker is ill; we&#39;ll announce a new date." in mail.get_body(preferencelist=("html",)).get_content()

    wait_until(lambda: [r for r in http_sink.delivered("/ada") if r.body.get("title") == title], message="the cancel webhook")
    hook = next(r for r in http_sink.delivered("/ada") if r.body.get("title") == title)
    assert REASON in hook.body["message"] and hook.body["soonish"]["kind"] == "cancel"

    wait_until(lambda: any(title in text for text in fake_slack.dms_to("U0ALICE")), message="the cancel DM")
    assert REASON in next(t for t in fake_slack.dms_to("U0ALICE") if title in t)

    # Whoever opens the event page later reads it too.
    visitor = app.test_client().get(page)
    assert "The organizer says: “The speaker is ill; we&#39;ll announce a new date.”" in page_text(visitor)


def test_the_api_takes_a_reason_on_cancel_and_documents_its_limit(app, client, host, bearer):
    headers = bearer(host)
    spec = client.get("/api/v1/openapi.json").get_json()
    cancel = spec["paths"]["/api/v1/events/{event_id}/cancel"]["post"]
    schema = cancel["requestBody"]["content"]["application/json"]["schema"]
    reason = spec["components"]["schemas"][schema["$ref"].rsplit("/", 1)[-1]]["properties"]["reason"]
    assert reason["type"] == "string" and reason["maxLength"] == 500

    event = create_event(client, headers)
    too_long = client.post(f"/api/v1/events/{event['id']}/cancel", json={"reason": "x" * 501}, headers=headers)
    assert too_long.status_code == 422 and "reason" in too_long.get_json()["error"]["fields"]
    assert client.get(f"/api/v1/events/{event['id']}").get_json()["status"] == "scheduled"

    response = client.post(f"/api/v1/events/{event['id']}/cancel", json={"reason": REASON}, headers=headers)
    assert response.status_code == 200 and response.get_json()["status"] == "cancelled"
    assert response.get_json()["cancel_reason"] == REASON
    with app.app_context():
        cancel_row = db.session.query(Notification).filter_by(kind=NotificationKind.CANCEL).one()
        assert cancel_row.body.endswith(REASON)

    # A body is optional: cancelling without one still works (it is idempotent too).
    other = create_event(client, headers)
    cancelled = client.post(f"/api/v1/events/{other['id']}/cancel", headers=headers)
    assert cancelled.status_code == 200 and cancelled.get_json()["cancel_reason"] is None


# Items 14, 15 and 17 ---------------------------------------------------------------------------

def test_welcomes_fold_into_one_entry_and_announcements_stay_in_view(
    app, client, host, login, make_user, bearer, worker, http_sink, smtp_sink
):
    event = create_event(client, bearer(host), title="Choir practice")
    for name in ("ann", "ben", "cat"):
        subscribe(client, bearer(make_user(f"{name}@example.com")), event["id"])
    http_sink.failing, http_sink.failing_status = range(10_000), 404  # a gone webhook: a permanent failure
    follow_by_webhook(client, bearer(make_user("dan@example.com")), event["id"], http_sink.url("/dan"))
    announce(client, bearer(host), event["id"], "Bring your scores", "Page 12 onwards.")
    # Every message planned (a welcome reaches its workflow through the follow outbox, so it may
    # still have no deliveries at all for a moment) and none pending.
    wait_until(lambda: len(found := reports(client, bearer(host), event["id"])) == 5
               and all(sum(r["counts"].values()) > 0 and r["counts"]["pending"] == 0 for r in found),
               message="everything sent")

    login(host)
    panel = page_text(client.get(f"/e/{event['slug']}"))
    assert panel.count("data-welcomes") == 1
    assert "Welcomes — 3 delivered, 1 failed" in panel
    assert "4 new followers greeted" in panel
    assert "You&#39;re following Choir practice" not in panel  # no card per follower
    assert panel.count('class="report"') == 1 and "Bring your scores" in panel
    assert "404" in panel  # why the welcome failed
    # The API still lists every message; the live fragment folds them like the page.
    assert len(reports(client, bearer(host), event["id"])) == 5
    fragment = page_text(client.get(f"/events/{event['id']}/deliveries", headers=HTMX))
    assert fragment.count("data-welcomes") == 1 and "Welcomes — 3 delivered, 1 failed" in fragment

    # Who got them: every welcome's delivery in one list, the failed one first.
    assert f'<a href="/events/{event["id"]}/messages/welcomes">Who got them</a>' in panel
    who = page_text(client.get(f"/events/{event['id']}/messages/welcomes"))
    assert "Welcomes to new followers" in who and "4 sent, the latest" in who
    followers = re.findall(r'<td class="follower"[^>]*>([^<]+)</td>', who)
    assert len(followers) == 4 and followers[0] == "Test"  # make_user's display name; Dan's webhook failed
    assert 'data-status="failed"' in who.split("<tbody>")[1].split("</tr>")[0]
    failed = page_text(client.get(f"/events/{event['id']}/messages/welcomes?status=failed", headers=HTMX))
    assert failed.count('data-status="failed"') == 1 and 'data-status="sent"' not in failed
    assert f'href="/events/{event["id"]}/messages/welcomes?status=sent"' in failed


def test_panel_and_who_got_it_times_carry_their_zone_and_who_got_it_shows_the_message(
    app, client, host, login, make_user, bearer, worker, smtp_sink
):
    event = create_event(client, bearer(host), title="Choir practice", timezone="Europe/Paris")
    subscribe(client, bearer(make_user("ann@example.com")), event["id"])
    sent = announce(client, bearer(host), event["id"], "Bring your scores", "Page 12 onwards.\nWe start with the Kyrie.")
    wait_until(lambda: reports(client, bearer(host), event["id"])[0]["counts"]["sent"] == 1, message="delivered")

    login(host)
    zoned = re.compile(r'<time datetime="[^"]+" title="Europe/Paris">\w{3}, \w{3} \d{1,2}, \d{4}, \d{1,2}:\d{2}\s[AP]M CES?T</time>')
    assert zoned.search(page_text(client.get(f"/e/{event['slug']}")))
    who = page_text(client.get(f"/events/{event['id']}/messages/{sent['id']}"))
    assert len(zoned.findall(who)) == 2  # when it was sent, and when it reached Ann
    assert re.search(r'<blockquote class="message-excerpt"[^>]*>Page 12 onwards.\nWe start with the Kyrie.</blockquote>', who)


def test_a_zone_without_an_abbreviation_is_said_as_an_offset():
    moment = datetime(2031, 3, 10, 12, 0, tzinfo=timezone.utc)
    assert str(zoned_time(moment, "Asia/Dubai")).endswith(">Mon, Mar 10, 2031, 4:00\u202fPM GMT+04:00</time>")
    assert str(zoned_time(moment, "America/New_York")).endswith(">Mon, Mar 10, 2031, 8:00\u202fAM EDT</time>")


def test_the_folded_welcomes_stay_live_while_the_newest_waits_for_its_planning(app, client, host, make_user, bearer):
    from soonish.models import Delivery, DeliveryStatus, User
    from soonish.services.notifications import delivery_reports

    event = create_event(client, bearer(host), title="Choir practice")
    for name in ("ann", "ben"):
        subscribe(client, bearer(make_user(f"{name}@example.com")), event["id"])
    with app.app_context():
        welcomes = db.session.query(Notification).filter_by(event_id=event["id"], kind=NotificationKind.WELCOME) \
            .order_by(Notification.id).all()
        assert len(welcomes) == 2

        def sent(notification):  # what the worker records once it has planned and sent a welcome
            subscription = db.session.query(Subscription).filter_by(id=notification.subscription_id).one()
            db.session.add(Delivery(notification_id=notification.id, subscription_id=subscription.id,
                                    target=f"mailto:{subscription.user_id}", channel="email", status=DeliveryStatus.SENT))
            db.session.commit()

        def folded():
            return delivery_reports(db.session.get(User, host.id), event["id"], fold_welcomes=True)[-1]

        sent(welcomes[0])  # Ann's welcome is out; Ben's is not planned yet
        assert folded().counts["sent"] == 1 and folded().in_progress  # the panel keeps polling
        sent(welcomes[1])
        assert folded().counts["sent"] == 2 and not folded().in_progress
