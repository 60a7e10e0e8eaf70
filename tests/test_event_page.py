"""The event page's anonymous render (issue 24): one render per event version and process,
no session per view (the forms carry the page's signed token), each view's own form nonces, 304
for an unchanged page."""
import re
import time

from sqlalchemy import insert

from soonish.models import Subscription, SubscriptionStatus, User, db, utcnow
from soonish.services import subscriptions as subscription_service

from .api_helpers import create_event as create_event_by_api
from loopback.sinks import wait_until


def test_the_anonymous_page_is_one_render_per_version_with_no_session_and_its_own_form_token(app, client, host, organizer):
    """The anonymous page comes from memory (one query a view) and writes no session: its forms
    carry the page's signed token, which its follow form takes without a session (and no other
    form does); nonces are each view's own, a revalidation of an unchanged page is a 304, and an
    edit shows at once."""
    event = create_event_by_api(client, organizer, title="Cached night")
    page = f"/e/{event['slug']}"
    first, second = app.test_client(), app.test_client()
    one, two = first.get(page), second.get(page)
    assert one.status_code == two.status_code == 200
    assert "Set-Cookie" not in one.headers and "Set-Cookie" not in two.headers  # no session per view
    tokens = [re.findall(r'name="csrf_token" value="([^"]+)"', r.get_data(as_text=True)) for r in (one, two)]
    nonces = [re.findall(r'name="form_nonce" value="([^"]+)"', r.get_data(as_text=True)) for r in (one, two)]
    assert tokens[0] and tokens[0] == tokens[1]
    assert nonces[0] and nonces[1] and set(nonces[0]).isdisjoint(nonces[1])
    assert "slot" not in one.get_data(as_text=True)
    follow = {"form_nonce": nonces[0][0], "name": "Kim", "email": "kim@example.com", "intent": "going"}
    assert first.post(f"{page}/subscribe", data={**follow, "csrf_token": "forged"}).status_code == 400
    # The page's token on another form (signing in) is refused: there a session's own is needed.
    assert first.post("/login", data={"email": "kim@example.com", "password": "x", "csrf_token": tokens[0][0]}
                      ).status_code == 400
    # The page's token works for its own form: their "I'm going" is taken.
    answered = first.post(f"{page}/subscribe", data={**follow, "csrf_token": tokens[0][0]})
    assert answered.status_code == 302, answered.get_data(as_text=True)

    assert second.get(page, headers={"If-None-Match": two.headers["ETag"]}).status_code == 304
    edited = client.patch(f"/api/v1/events/{event['id']}", json={"title": "Cached night, moved"}, headers=organizer)
    assert edited.status_code == 200, edited.get_json()
    fresh = second.get(page, headers={"If-None-Match": two.headers["ETag"]})
    assert fresh.status_code == 200 and "Cached night, moved" in fresh.get_data(as_text=True)


def test_an_email_follower_answers_through_the_api_with_their_manage_token(app, client, host, organizer):
    event = create_event_by_api(client, organizer, title="Token night")
    other = create_event_by_api(client, organizer, title="Other night")
    with app.test_request_context():
        follower = User(email="eve@example.com")
        subscription = Subscription(event_id=event["id"], user=follower, selectors=[])
        db.session.add(subscription)
        db.session.commit()
        token = subscription_service.manage_token(subscription)
    url = f"/api/v1/events/{event['id']}/rsvp"
    assert client.put(url, json={"answer": "going"}).status_code == 401
    refused = client.put(f"/api/v1/events/{other['id']}/rsvp", json={"answer": "going", "manage_token": token})
    assert refused.status_code == 404
    answered = client.put(url, json={"answer": "going", "manage_token": token, "listed": True})
    assert answered.status_code == 200, answered.get_json()
    assert (answered.get_json()["answer"], answered.get_json()["listed"]) == ("going", True)
    assert client.put(url, json={"answer": "going", "manage_token": "forged"}).status_code == 404


def test_a_kept_page_is_rendered_again_only_when_what_it_shows_changed(app, client, host, organizer, monkeypatch):
    """Past EVENT_PAGE_CACHE_SECONDS one query asks whether the page would show anything else
    (here a follow another process made, which no listener of this one saw); unchanged, it stays."""
    from soonish.web import anonymous_page

    event = create_event_by_api(client, organizer, title="Quiet night")
    page = f"/e/{event['slug']}"
    renders = []
    keep = anonymous_page.keep
    monkeypatch.setattr(anonymous_page, "keep", lambda *args: renders.append(1) or keep(*args))
    monkeypatch.setitem(app.config, "EVENT_PAGE_CACHE_SECONDS", 0.05)
    viewer = app.test_client(use_cookies=False)
    assert "1 following" not in viewer.get(page).get_data(as_text=True)
    entry = app.extensions["soonish.anonymous_pages"].entries[(event["slug"], "en")]
    wait_until(lambda: entry.fresh_until < time.monotonic(), message="the kept page to go stale")
    assert "1 following" not in viewer.get(page).get_data(as_text=True) and len(renders) == 1  # same state: kept
    with app.app_context():  # as another process would: a plain insert, no listener of this one sees it
        db.session.execute(insert(Subscription.__table__).values(
            event_id=event["id"], user_id=host.id, status=SubscriptionStatus.ACTIVE, reminder_offsets=[], created_at=utcnow()))
        db.session.commit()
    wait_until(lambda: "1 following" in viewer.get(page).get_data(as_text=True), message="the follow on the page")
    assert len(renders) == 2
