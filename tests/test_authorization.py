"""Who may touch what: another user's event, channel, subscription and calendar feed, tried by
every kind of caller (nobody, a signed-in session, a bearer token) through the API and the pages.

Every attempt is refused, with the status the app promises, and changes nothing:
- an anonymous API call: 401; an anonymous page: a redirect to sign in;
- another organizer's public event: 403 (anyone can see it exists);
- anything private (a private event, a channel, a subscription, a dead feed URL): 404, exactly
  as if it did not exist.

Then every route that changes state refuses a cookie-authenticated request without the CSRF
token, apart from the documented exemptions.
"""
import re
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select

from soonish.domain.delivery import mask_url
from soonish.models import (
    Community, CommunityMember, CommunityRole, Event, Integration, Notification, NotificationKind, Subscription, User,
    Visibility, db,
)
from soonish.services import calendar as calendar_service
from soonish.services.integrations import cipher

from .conftest import csrf_token, stored

# An anonymous page request: sent to the sign-in form, which brings them back afterwards.
SIGN_IN = 302


@dataclass(frozen=True)
class Attempt:
    """One request at the owner's things. ``path`` and ``body`` name them by placeholder:
    {event} {private} {slug} {private_slug} {integration} {subscription} {rotated} {revoked} {community}
    {owner}."""

    method: str
    path: str
    signed_in: int  # the status another signed-in user gets
    anonymous: int  # the status nobody signed in gets
    body: dict | None = None  # JSON for the API, form fields for pages (the CSRF token is added)

    def __str__(self) -> str:
        return f"{self.method} {self.path}"


API_ATTEMPTS = [
    Attempt("PATCH", "/api/v1/events/{event}", 403, 401, {"title": "Mine now"}),
    Attempt("POST", "/api/v1/events/{event}/cancel", 403, 401),
    Attempt("POST", "/api/v1/events/{event}/announcements", 403, 401, {"title": "Spam"}),
    Attempt("GET", "/api/v1/events/{event}/notifications", 403, 401),
    Attempt("GET", "/api/v1/events/{event}/notifications/{notification}/deliveries", 403, 401),
    Attempt("GET", "/api/v1/events/{private}", 404, 404),
    Attempt("PATCH", "/api/v1/events/{private}", 404, 401, {"title": "Mine now"}),
    Attempt("POST", "/api/v1/events/{private}/cancel", 404, 401),
    Attempt("POST", "/api/v1/events/{private}/announcements", 404, 401, {"title": "Spam"}),
    Attempt("GET", "/api/v1/events/{private}/notifications", 404, 401),
    Attempt("POST", "/api/v1/events/{private}/subscriptions", 404, 404, {"email": "{email}"}),
    # Someone else's community is missing to whoever isn't on its team.
    Attempt("GET", "/api/v1/communities/{community}", 404, 401),
    Attempt("GET", "/api/v1/communities/{community}/members", 404, 401),
    Attempt("GET", "/api/v1/communities/{community}/audit", 404, 401),
    Attempt("POST", "/api/v1/communities/{community}/invites", 404, 401, {"email": "{email}", "role": "owner"}),
    Attempt("PATCH", "/api/v1/communities/{community}/members/{owner}", 404, 401, {"role": "announcer"}),
    Attempt("DELETE", "/api/v1/communities/{community}/members/{owner}", 404, 401),
    Attempt("POST", "/api/v1/communities/{community}/transfer", 404, 401, {"user_id": 1}),
    Attempt("DELETE", "/api/v1/communities/{community}", 404, 401),
    Attempt("GET", "/api/v1/integrations/{integration}", 404, 401),
    Attempt("PATCH", "/api/v1/integrations/{integration}", 404, 401, {"name": "Mine now"}),
    Attempt("DELETE", "/api/v1/integrations/{integration}", 404, 401),
    Attempt("POST", "/api/v1/integrations/{integration}/test", 404, 401),
    Attempt("PATCH", "/api/v1/subscriptions/{subscription}", 404, 401, {"reminder_offsets": ["5m"]}),
    Attempt("DELETE", "/api/v1/subscriptions/{subscription}", 404, 401),
]

PAGE_ATTEMPTS = [
    Attempt("GET", "/events/{event}/edit", 403, SIGN_IN),
    Attempt("POST", "/events/{event}/edit", 403, SIGN_IN,
            {"title": "Mine now", "starts_at": "2031-03-10T19:30", "timezone": "UTC", "visibility": "public"}),
    Attempt("POST", "/events/{event}/cancel", 403, SIGN_IN),
    Attempt("POST", "/events/{event}/announce", 403, SIGN_IN, {"title": "Spam"}),
    Attempt("GET", "/events/{event}/deliveries", 403, SIGN_IN),
    Attempt("GET", "/events/{event}/messages/{notification}", 403, SIGN_IN),
    Attempt("GET", "/events/{event}/messages/welcomes", 403, SIGN_IN),
    Attempt("GET", "/events/{private}/edit", 404, SIGN_IN),
    Attempt("POST", "/events/{private}/cancel", 404, SIGN_IN),
    Attempt("GET", "/events/{private}/deliveries", 404, SIGN_IN),
    Attempt("GET", "/e/{private_slug}", 404, 404),
    Attempt("GET", "/events/{private_slug}.ics", 404, 404),
    Attempt("POST", "/e/{private_slug}/subscribe", 404, 404, {"email": "{email}"}),
    Attempt("POST", "/channels/{integration}/test", 404, SIGN_IN),
    Attempt("POST", "/channels/{integration}/toggle", 404, SIGN_IN),
    Attempt("POST", "/channels/{integration}/delete", 404, SIGN_IN),
    Attempt("POST", "/subscriptions/{subscription}", 404, SIGN_IN, {"s{subscription}-reminder_offsets": "5m"}),
    Attempt("POST", "/subscriptions/{subscription}/unsubscribe", 404, SIGN_IN),
    # The feed URL is the secret: once rotated away or revoked it is gone for everyone.
    Attempt("GET", "/calendar/{rotated}.ics", 404, 404),
    Attempt("GET", "/calendar/{revoked}.ics", 404, 404),
]

CALLERS = ["anonymous", "session", "bearer"]


def things_of(app, owner) -> dict[str, str]:
    """A public and a private event of ``owner``, a message sent to its followers, a channel, a
    subscription and two dead feed URLs."""
    starts_at = datetime.now(timezone.utc) + timedelta(days=7)
    suffix = uuid.uuid4().hex[:6]
    community = stored(app, Community(slug=f"owners-{suffix}", name="Owner's", personal_of_id=owner.id))
    stored(app, CommunityMember(community_id=community.id, user_id=owner.id, role=CommunityRole.OWNER))
    event = stored(app, Event(organizer_id=owner.id, community_id=community.id, slug=f"launch-{suffix}",
                              title="Launch", starts_at=starts_at))
    private = stored(app, Event(organizer_id=owner.id, community_id=community.id, slug=f"secret-{suffix}",
                                title="Secret", starts_at=starts_at, visibility=Visibility.PRIVATE))
    url = f"json://127.0.0.1:9/{suffix}"
    with app.app_context():
        sealed = cipher().encrypt(url)
    integration = stored(app, Integration(user_id=owner.id, name="Phone", url_mask=mask_url(url),
                                          apprise_url_encrypted=sealed))
    subscription = stored(app, Subscription(event_id=event.id, user_id=owner.id, reminder_offsets=[3600]))
    notification = stored(app, Notification(event_id=event.id, kind=NotificationKind.ANNOUNCEMENT, title="Hello"))
    with app.app_context():
        user = db.session.get(User, owner.id)
        rotated = calendar_service.rotate_feed_token(user)
        revoked = calendar_service.rotate_feed_token(user)
        calendar_service.revoke_feed_token(user)
    return {
        "event": str(event.id), "private": str(private.id), "slug": event.slug, "private_slug": private.slug,
        "integration": str(integration.id), "subscription": str(subscription.id), "notification": str(notification.id),
        "rotated": rotated, "revoked": revoked, "community": str(community.id), "owner": str(owner.id),
    }


@pytest.fixture
def owners_things(app, make_user) -> dict[str, str]:
    return things_of(app, make_user("owner@example.com"))


def state_of_everything(app) -> tuple:
    """What a refused request must leave exactly as it was."""
    with app.app_context():
        return (
            db.session.execute(select(Event.id, Event.title, Event.status, Event.version, Event.visibility)
                               .order_by(Event.id)).all(),
            db.session.execute(select(Integration.id, Integration.name, Integration.is_active)
                               .order_by(Integration.id)).all(),
            db.session.execute(select(Subscription.id, Subscription.user_id, Subscription.status,
                                      Subscription.reminder_offsets).order_by(Subscription.id)).all(),
            db.session.scalar(select(func.count()).select_from(Notification)),
        )


@pytest.fixture
def caller_client(app, client, make_user, login, bearer):
    """A test client acting as ``caller``, and the headers each of its requests carries."""

    def make(caller: str):
        if caller == "anonymous":
            return app.test_client(), {}
        intruder = make_user("intruder@example.com")
        if caller == "bearer":
            return app.test_client(), bearer(intruder)
        login(intruder)
        # The CSRF token is sent, so what refuses the request is authorization, not CSRF.
        return client, {"X-CSRFToken": csrf_token(client)}

    return make


def fill(template, things: dict[str, str]):
    if isinstance(template, str):
        return template.format(**things)
    if isinstance(template, dict):
        return {fill(key, things): fill(value, things) for key, value in template.items()}
    if isinstance(template, list):
        return [fill(item, things) for item in template]
    return template


def attempt_all(app, caller: str, attempts: list[Attempt], send) -> list[str]:
    """Make every attempt; return what went wrong (a status other than promised, or a change)."""
    wrong = []
    for attempt in attempts:
        before = state_of_everything(app)
        response = send(attempt)
        expected = attempt.anonymous if caller == "anonymous" else attempt.signed_in
        if response.status_code != expected:
            wrong.append(f"{attempt}: {response.status_code}, expected {expected}")
        elif expected == SIGN_IN and not response.headers["Location"].startswith("/login?next="):
            wrong.append(f"{attempt}: redirected to {response.headers['Location']}, not to sign in")
        if state_of_everything(app) != before:
            wrong.append(f"{attempt}: changed the owner's things")
    return wrong


@pytest.mark.parametrize("caller", CALLERS)
def test_the_api_refuses_another_users_things(app, owners_things, caller_client, caller):
    http, headers = caller_client(caller)

    def send(attempt: Attempt):
        things = {**owners_things, "email": f"{uuid.uuid4().hex[:8]}@example.com"}
        response = http.open(fill(attempt.path, things), method=attempt.method,
                             json=fill(attempt.body, things), headers=headers)
        assert response.is_json, f"{attempt}: the API answered {response.content_type}"
        return response

    assert attempt_all(app, caller, API_ATTEMPTS, send) == []


@pytest.mark.parametrize("caller", CALLERS)
def test_the_pages_refuse_another_users_things(app, owners_things, caller_client, caller):
    http, headers = caller_client(caller)
    token = csrf_token(http)  # anonymous forms carry one too: the refusal must be the sign-in's

    def send(attempt: Attempt):
        things = {**owners_things, "email": f"{uuid.uuid4().hex[:8]}@example.com"}
        form = {**fill(attempt.body or {}, things), "csrf_token": token} if attempt.method == "POST" else None
        return http.open(fill(attempt.path, things), method=attempt.method, data=form, headers=headers)

    assert attempt_all(app, caller, PAGE_ATTEMPTS, send) == []


# Views that take no CSRF token, each because something else proves the request.
CSRF_EXEMPT_ENDPOINTS = {
    "subscriptions.unsubscribe",  # RFC 8058 one-click: mail providers POST it; the signed URL is the proof
    "communities.unfollow_by_link",  # the same one-click, in a community's mails
    "series.leave",  # "leave the whole series" from an occurrence's mail or manage page: the signed URL is the proof
    "account_settings.forget_address",  # "forget my address" from a mail: the signed URL is the proof
    "chat.slack_events",  # Slack signs every request; bolt verifies it
    # Mail providers' bounce and complaint reports: each verified as its provider documents it.
    "api_mail_webhooks.ses", "api_mail_webhooks.postmark", "api_mail_webhooks.mailgun",
}
STATE_CHANGING = {"POST", "PUT", "PATCH", "DELETE"}


def state_changing_routes(app) -> list[tuple[str, str, str]]:
    """(endpoint, method, rule) for every state-changing route the app serves."""
    return sorted(
        (rule.endpoint, method, rule.rule)
        for rule in app.url_map.iter_rules()
        for method in sorted(rule.methods & STATE_CHANGING)
    )


def test_the_csrf_exemptions_are_only_the_documented_ones(app):
    exempt = {
        endpoint for endpoint, _method, _rule in state_changing_routes(app)
        if getattr(app.view_functions[endpoint], "csrf_exempt", False)
    }
    assert exempt == CSRF_EXEMPT_ENDPOINTS


def test_every_cookie_authenticated_state_change_needs_the_csrf_token(app, client, make_user, login):
    # The signed-in user's own things: without the CSRF check many of these requests would succeed.
    user = make_user("member@example.com")
    login(user)
    own = things_of(app, user)
    values = {"event_id": own["event"], "slug": own["slug"], "integration_id": own["integration"],
              "subscription_id": own["subscription"], "token": "a-signed-token", "key_id": 1, "endpoint_id": 1, "message_id": 1,
              "channel_type": "ntfy", "identity_id": 1, "series_id": 1, "platform": "slack", "installation_id": 1, "notification_id": 1,
              "community_id": own["community"], "user_id": str(user.id)}
    routes = [route for route in state_changing_routes(app) if route[0] not in CSRF_EXEMPT_ENDPOINTS]
    assert len(routes) > 20  # the walk found the app's routes

    let_through = []
    for endpoint, method, rule in routes:
        path = re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule).format(**values)  # <int:event_id>, <slug:slug>, <token>
        before = state_of_everything(app)
        response = client.open(path, method=method, json={} if path.startswith("/api/") else None)
        if response.status_code != 400 or "CSRF" not in response.get_data(as_text=True):
            let_through.append(f"{method} {rule} ({endpoint}): {response.status_code}")
        elif state_of_everything(app) != before:
            let_through.append(f"{method} {rule} ({endpoint}): changed something")
    assert let_through == []
    assert client.get("/dashboard").status_code == 200  # still signed in: the cookie was really sent


def test_the_owner_gets_through_where_others_are_refused(app, client, make_user, login, bearer):
    # The control for the matrix: the same requests succeed for the owner.
    owner = make_user("owner@example.com")
    things = things_of(app, owner)
    assert client.get(f"/api/v1/integrations/{things['integration']}", headers=bearer(owner)).status_code == 200
    login(owner)
    response = client.post(f"/subscriptions/{things['subscription']}",
                           data={f"s{things['subscription']}-reminder_offsets": "5m", "csrf_token": csrf_token(client)})
    assert response.status_code == 302 and response.headers["Location"] == "/subscriptions"
    with app.app_context():
        assert db.session.get(Subscription, int(things["subscription"])).reminder_offsets == [300]
    assert client.get(f"/events/{things['private']}/edit").status_code == 200
