"""Odd input on the subscription, channel and announcement pages: every mistake is a 422 with
the message beside its field (never a 500), and nothing is saved."""
import pytest

from soonish.models import Integration, Notification, Subscription, SubscriptionStatus, db

from .api_helpers import create_event, subscribe
from .conftest import csrf_token

HUGE = "x" * 20_000
HTMX = {"HX-Request": "true"}


@pytest.fixture
def event(client, make_user, bearer):
    return create_event(client, bearer(make_user("host@example.com")), title="Book club")


@pytest.fixture
def reader(make_user, login):
    user = make_user("reader@example.com")
    login(user)
    return user


def count(app, model) -> int:
    with app.app_context():
        return db.session.query(model).count()


def post_form(client, path: str, page: str, **data):
    return client.post(path, data={**data, "csrf_token": csrf_token(client, page)})


def assert_refused(response, errors: dict[str, str]) -> None:
    """A 422 with each message shown beside its field."""
    assert response.status_code == 422
    for field, message in errors.items():
        assert message in field_error(response, field)


def field_error(response, field: str) -> str:
    """The error shown beside ``field`` (the page ties it to the input by id)."""
    html = response.get_data(as_text=True)
    start = html.index(f'id="{field}-error"')
    return html[html.index(">", start) + 1 : html.index("</p>", start)]


ODD_EMAILS = {
    "": "Enter your email address.",
    "   ": "Enter your email address.",
    "reader at example": "doesn&#39;t look like an email address",
    HUGE + "@example.com": "too long",
}


def test_subscribe_by_email_refuses_odd_addresses(app, client, event):
    page = f"/e/{event['slug']}"
    for email, message in ODD_EMAILS.items():
        assert_refused(post_form(client, f"{page}/subscribe", page, email=email), {"email": message})
    assert count(app, Subscription) == 0


def test_htmx_subscribe_error_swaps_only_the_box(client, event):
    page = f"/e/{event['slug']}"
    token = csrf_token(client, page)
    response = client.post(f"{page}/subscribe", data={"email": "nope"}, headers={**HTMX, "X-CSRFToken": token})
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    assert '<section class="card subscribe-box' in html and "<html" not in html
    assert "look like an email address" in html


ODD_OFFSETS = {
    "99y": "“99y” is not an offset like 1d, 2h or 15m.",
    "0m": "“0m” is out of range: use 5 minutes (5m) to 30 days (30d) before the start.",
    "31d": "“31d” is out of range",
    "1d 2d 3d 4d 5d 6d": "At most 5 reminders per event.",
    HUGE: "more than five reminders can need",
}


def test_signed_in_subscribe_refuses_odd_offsets(app, client, event, reader):
    page = f"/e/{event['slug']}"
    for offsets, message in ODD_OFFSETS.items():
        response = post_form(client, f"{page}/subscribe", page, reminder_offsets=offsets)
        assert_refused(response, {"reminder_offsets": message})
    assert count(app, Subscription) == 0


def test_repeated_and_spaced_offsets_are_one_reminder_each(app, client, event, reader):
    page = f"/e/{event['slug']}"
    response = post_form(client, f"{page}/subscribe", page, reminder_offsets=" 1d 1d ,, 24h 15m ")
    assert response.status_code == 302
    with app.app_context():
        assert db.session.query(Subscription).one().reminder_offsets == [86400, 900]


def test_forged_channel_choices_are_refused(app, client, event, reader):
    page = f"/e/{event['slug']}"
    for channel in ("integration:abc", "integration:999999", "tag:not mine", "tag:", HUGE):
        response = post_form(client, f"{page}/subscribe", page, channels=channel, reminder_offsets="1d")
        assert_refused(response, {"channels": "pick again from the list"})
    assert count(app, Subscription) == 0


def test_my_subscriptions_refuses_odd_offsets_in_place(app, client, event, reader, bearer):
    mine = subscribe(client, bearer(reader), event["id"])
    path = f"/subscriptions/{mine['id']}"
    for offsets, message in (("0m", "“0m” is out of range"), ("1d 1x", "“1x” is not an offset")):
        response = post_form(client, path, "/subscriptions", **{f"s{mine['id']}-reminder_offsets": offsets})
        assert_refused(response, {f"s{mine['id']}-reminder_offsets": message})
    with app.app_context():
        assert db.session.get(Subscription, mine["id"]).reminder_offsets == [86400, 3600]
    response = client.post(path, data={f"s{mine['id']}-reminder_offsets": "0m", "csrf_token": csrf_token(client, "/subscriptions")},
                           headers=HTMX)
    fragment = response.get_data(as_text=True)
    assert response.status_code == 422 and "<html" not in fragment and f'id="subscription-{mine["id"]}"' in fragment
    assert post_form(client, "/subscriptions/999999", "/subscriptions", **{"s999999-reminder_offsets": "1d"}).status_code == 404


ODD_CHANNELS = [
    ("", "json://example.com/hook", "", {"name": "Name this channel"}),
    ("   ", "json://example.com/hook", "", {"name": "Name this channel"}),
    (HUGE, "json://example.com/hook", "", {"name": "under 80 characters"}),
    ("Phone", "", "", {"url": "Paste the channel"}),
    ("Phone", "not a url", "very urgent", {"url": "Apprise doesn&#39;t recognise", "tag": "Use letters, digits"}),
    ("Phone", "json://[::1", "", {"url": "Apprise doesn&#39;t recognise"}),
    ("Phone", "unknownscheme://host", "", {"url": "Apprise doesn&#39;t recognise"}),
    ("Phone", "json://example.com/" + HUGE, "", {"url": "2,048 characters at most"}),
    ("Phone", "json://example.com/hook", "x" * 41, {"tag": "under 40 characters"}),
]


def test_channel_form_refuses_odd_input(app, client, reader):
    for name, url, tag, errors in ODD_CHANNELS:
        assert_refused(post_form(client, "/channels", "/channels", name=name, url=url, tag=tag), errors)
    assert count(app, Integration) == 0


ODD_ANNOUNCEMENTS = [
    ("", "", "title", "Write a headline."),
    ("   ", "", "title", "Write a headline."),
    (HUGE, "", "title", "200"),
    ("Hello", HUGE, "body", "5000"),
]


def test_announce_refuses_odd_input(app, client, make_user, bearer, login):
    host = make_user("organizer@example.com")
    login(host)
    event = create_event(client, bearer(host))
    page = f"/e/{event['slug']}"
    for title, body, field, message in ODD_ANNOUNCEMENTS:
        response = post_form(client, f"/events/{event['id']}/announce", page, title=title, body=body)
        assert_refused(response, {field: message})
    assert count(app, Notification) == 0


def test_manage_link_takes_blank_offsets_as_no_reminders(app, client, event, smtp_sink):
    from soonish.services.subscriptions import manage_token

    page = f"/e/{event['slug']}"
    post_form(client, f"{page}/subscribe", page, email="reader@example.com")
    with app.test_request_context():
        token = manage_token(db.session.query(Subscription).one())
    manage = f"/s/manage/{token}"
    assert post_form(client, manage, manage, reminder_offsets=HUGE).status_code == 422
    assert post_form(client, manage, manage, reminder_offsets="   ").status_code == 302
    with app.app_context():
        subscription = db.session.query(Subscription).one()
        assert subscription.reminder_offsets == [] and subscription.status == SubscriptionStatus.PENDING
