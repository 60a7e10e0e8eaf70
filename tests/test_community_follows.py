"""Following a community (issue 25.3-25.5) through its doors: the API (with its 4xx), the page's
follow box, the feeds, the embed and oEmbed; and ONE end-to-end path through the real Temporal
and the SMTP sink: a new public event reaches a "tell me about new events" follower as exactly
one mail whose one-tap link follows the event, and subscribes an "every new event" follower;
the same in chat, its post's "Follow this event" button (Slack, Discord) following it."""
import dataclasses
import json
import re
from xml.etree import ElementTree

import pytest
from sqlalchemy import select

from soonish.bots.core import Commands
from soonish.domain.series.occurrences import materialize_series
from soonish.temporal.digest.activities import DigestScope
from soonish.models import (
    ChatIdentity, CommunityFollow, Event, Notification, NotificationKind, OutboxItem, OutboxKind, SeriesFollow,
    Subscription, SubscriptionStatus, db, utcnow,
)

from .api_helpers import create_event, future_iso
from .chat_fakes import block_action, slash_command
from .conftest import PASSWORD, csrf_token
from loopback.sinks import first_seen, wait_until
from .test_bots_core import ALICE
from .test_bots_discord import MEMBER, discord_bot  # noqa: F401 (a fixture)
from .test_communities import make_community, team  # noqa: F401 (a fixture)
from .test_series import create_series, next_weekday

FOLLOW_LINK = re.compile(r"Follow this event \(one tap\): http://soonish\.test(/s/follow/\S+)")


@pytest.fixture
def owner(make_user, bearer):
    return bearer(make_user("owner@example.com"))


@pytest.fixture
def community(client, owner) -> dict:
    return make_community(client, owner, slug="night-owls", name="Night Owls")


def text_of(mail) -> str:
    return next(part.get_payload(decode=True).decode() for part in mail.walk() if part.get_content_type() == "text/plain")


def subscription_of(app, email: str, event_id: int) -> Subscription | None:
    with app.app_context():
        return db.session.scalar(select(Subscription).join(Subscription.user).where(
            Subscription.event_id == event_id, Subscription.user.has(email=email)))


def test_a_new_event_reaches_each_follower_once_and_the_one_tap_link_follows_it(
        app, client, worker, smtp_sink, make_user, bearer, owner, community):
    told, auto = make_user("told@example.com"), make_user("auto@example.com")
    assert client.post(f"/api/v1/communities/{community['id']}/follow", json={"mode": "new_events"},
                       headers=bearer(told)).status_code == 201
    assert client.post(f"/api/v1/communities/{community['id']}/follow", json={"mode": "every_event"},
                       headers=bearer(auto)).status_code == 201

    event = create_event(client, owner, title="Owl walk", community_id=community["id"])

    [mail] = smtp_sink.wait_for(2) and smtp_sink.to("told@example.com")
    assert mail["Subject"] == "New from Night Owls: Owl walk"
    assert "/c/follows/" in mail["List-Unsubscribe"]  # one-click unfollow of the community
    [auto_mail] = smtp_sink.to("auto@example.com")
    assert "You follow this event" in text_of(auto_mail)
    assert subscription_of(app, "auto@example.com", event["id"]).status == SubscriptionStatus.ACTIVE
    assert subscription_of(app, "told@example.com", event["id"]).status == SubscriptionStatus.SUGGESTED

    with app.app_context():  # its fan-out done, nobody got a second message
        wait_until(lambda: db.session.scalar(select(Notification.settled_at).where(
            Notification.event_id == event["id"], Notification.kind == NotificationKind.COMMUNITY_EVENT)) is not None,
            message="the new-event message settled")
    assert len(smtp_sink.to("told@example.com")) == len(smtp_sink.to("auto@example.com")) == 1

    path = FOLLOW_LINK.search(text_of(mail)).group(1)
    page = client.get(path)  # a mail scanner opening the link follows no one
    assert page.status_code == 200 and "Follow this event" in page.get_data(as_text=True)
    assert subscription_of(app, "told@example.com", event["id"]).status == SubscriptionStatus.SUGGESTED
    assert client.post(path, data={"csrf_token": csrf_token(client, path)}).status_code == 302  # the one tap
    assert subscription_of(app, "told@example.com", event["id"]).status == SubscriptionStatus.ACTIVE


def chat_subscription(app, platform: str, user_id: str, event_id: int) -> tuple[SubscriptionStatus, list] | None:
    """The status of the chat person's subscription to the event, and where it delivers."""
    with app.app_context():
        identity = db.session.scalar(select(ChatIdentity).where(ChatIdentity.platform == platform,
                                                                ChatIdentity.external_user_id == user_id))
        subscription = db.session.scalar(select(Subscription).where(
            Subscription.event_id == event_id, Subscription.user_id == identity.user_id)) if identity else None
        if subscription is None:
            return None
        return subscription.status, [s.chat_identity_id == identity.id for s in subscription.selectors]


def test_a_new_event_posted_in_chat_carries_a_follow_button_that_follows_it_for_whoever_presses_it(
        discord_bot, app, client, worker, fake_slack, fake_discord, owner, community):  # noqa: F811
    """A Slack channel follows the community (a manager asked), a Discord member in their DM:
    Alice presses the button in the channel and follows the event in her DM, the member in theirs."""
    fake_slack.admins.add("U0BOB")
    body, headers = slash_command(fake_slack, "subscribe night-owls here", user="U0BOB")
    client.post("/slack/events", data=body, headers=headers)
    assert "This channel now follows Night Owls" in fake_slack.wait_for_response(1)["text"]
    assert "You follow Night Owls" in fake_discord.run_command("subscribe", MEMBER, event="night-owls")["content"]

    event = create_event(client, owner, title="Owl walk", community_id=community["id"])

    def slack_post():
        return next((p for p in fake_slack.posts_to("C0GENERAL") if "Owl walk" in p["text"]), None)

    def discord_post():
        return next((m for m in fake_discord.messages if "Owl walk" in m["content"]), None)

    first_seen({"the post in the Slack channel": slack_post, "the post in the member's Discord DM": discord_post}, 60)
    blocks = slack_post()["blocks"]
    blocks = json.loads(blocks) if isinstance(blocks, str) else blocks
    [button] = next(b["elements"] for b in blocks if b["type"] == "actions")
    assert button["text"]["text"] == "Follow this event" and button["value"] == str(event["id"])
    assert chat_subscription(app, "slack", "U0ALICE", event["id"]) is None

    body, headers = block_action(fake_slack, button, user="U0ALICE", channel="C0GENERAL")
    assert client.post("/slack/events", data=body, headers=headers).status_code == 200
    reply = fake_slack.wait_for_response(2)
    assert reply["response_type"] == "ephemeral" and "You're following Owl walk" in reply["text"]
    assert "as direct messages from me" in reply["text"]  # pressed in a channel: to her DMs, not here
    assert chat_subscription(app, "slack", "U0ALICE", event["id"]) == (SubscriptionStatus.ACTIVE, [True])

    [discord_button] = discord_post()["components"][0]["components"]
    assert discord_button["label"] == "Follow this event"
    assert chat_subscription(app, "discord", MEMBER, event["id"])[0] == SubscriptionStatus.SUGGESTED
    pressed = fake_discord.press_button(discord_button["custom_id"], MEMBER)
    assert pressed["flags"] & 64 and "You're following Owl walk" in pressed["content"]
    assert chat_subscription(app, "discord", MEMBER, event["id"]) == (SubscriptionStatus.ACTIVE, [True])
    again = fake_discord.press_button(discord_button["custom_id"], MEMBER)  # a second press is harmless
    assert "You're following Owl walk" in again["content"]

    client.post(f"/api/v1/events/{event['id']}/cancel", json={}, headers=owner)
    late = fake_discord.press_button(discord_button["custom_id"], MEMBER)
    assert "cancelled" in late["content"]


def test_a_new_public_series_is_followed_whole_by_every_event_followers_and_told_once(
        app, client, make_user, bearer, owner, community):
    for email, mode in (("told@example.com", "new_events"), ("auto@example.com", "every_event")):
        assert client.post(f"/api/v1/communities/{community['id']}/follow", json={"mode": mode},
                           headers=bearer(make_user(email))).status_code == 201
    # Two occurrences now (the first Tuesday at least two days away, a week apart), the rest as
    # the daily run makes them: a fixed 15 days held only one on a Monday.
    app.config["SERIES_HORIZON_DAYS"] = (next_weekday(1) - utcnow().date()).days + 8
    series = create_series(client, owner, community_id=community["id"], rrule="FREQ=WEEKLY;BYDAY=TU;COUNT=6")
    create_series(client, owner, title="Board meeting", community_id=community["id"], visibility="private")

    first_made = [occurrence["id"] for occurrence in series["upcoming"]]
    assert len(first_made) >= 2
    with app.app_context():
        [follow] = db.session.scalars(select(SeriesFollow)).all()  # none of the private series
        assert follow.user.email == "auto@example.com" and follow.series_id == series["id"]
        told = db.session.scalars(select(OutboxItem).where(OutboxItem.kind == OutboxKind.COMMUNITY_EVENT_CREATED)).all()
        assert [row.event_id for row in told] == [first_made[0]]  # one message about the series, by its next occurrence
    assert all(subscription_of(app, "auto@example.com", event_id).status == SubscriptionStatus.ACTIVE
               for event_id in first_made)
    assert subscription_of(app, "told@example.com", first_made[1]) is None

    app.config["SERIES_HORIZON_DAYS"] = 56
    with app.app_context():
        assert materialize_series(series["id"]) > 0  # the daily run's work
        made_later = db.session.scalars(select(Event.id).where(
            Event.series_id == series["id"], Event.id.not_in(first_made))).all()
    assert made_later and all(subscription_of(app, "auto@example.com", event_id).status == SubscriptionStatus.ACTIVE
                              for event_id in made_later)


def test_the_daily_digest_run_mails_each_digest_follower_once_on_the_communitys_day(
        app, client, worker, harness, temporal_env, smtp_sink, make_user, bearer, owner, community):
    """The digest's one path through the real Temporal: the run as its schedule starts it."""
    assert client.patch(f"/api/v1/communities/{community['id']}", headers=owner,
                        json={"digest_weekday": utcnow().weekday()}).status_code == 200
    assert client.post(f"/api/v1/communities/{community['id']}/follow", json={"mode": "digest"},
                       headers=bearer(make_user("weekly@example.com"))).status_code == 201
    create_event(client, owner, title="Owl walk", community_id=community["id"], starts_at=future_iso(2))
    scope = DigestScope.from_config(app.config)
    workflow_run, progress = scope.starts()

    for run in ("first", "again"):  # a second run the same day mails nobody twice
        sent = harness.run(temporal_env.client.execute_workflow(
            workflow_run, progress, id=f"{scope.schedule_id}-{run}", task_queue=scope.task_queue))
        assert sent == (1 if run == "first" else 0)
    wait_until(lambda: smtp_sink.to("weekly@example.com"), message="the digest mail")
    [mail] = smtp_sink.to("weekly@example.com")
    assert "Owl walk" in text_of(mail)


def test_following_over_the_api_with_its_refusals(app, client, make_user, bearer, owner, community):
    headers = bearer(make_user("fan@example.com"))
    url = f"/api/v1/communities/{community['id']}/follow"
    assert client.get(url, headers=headers).status_code == 404  # not following yet
    bad = client.post(url, json={"mode": "sometimes"}, headers=headers)
    assert bad.status_code == 422 and "mode" in str(bad.get_json())
    assert client.post("/api/v1/communities/9999/follow", json={}, headers=headers).status_code == 404
    assert client.post(url, json={"selectors": [{"integration_id": 424242}]}, headers=headers).status_code == 422

    first = client.post(url, json={}, headers=headers)
    assert first.status_code == 201 and first.get_json()["mode"] == "new_events"
    assert client.post(url, json={"mode": "digest"}, headers=headers).status_code == 200
    changed = client.patch(url, json={"mode": "every_event"}, headers=headers)
    assert changed.status_code == 200 and changed.get_json()["mode"] == "every_event"
    assert client.patch(url, json={}, headers=headers).status_code == 422

    other = make_community(client, owner, slug="early-birds", name="Early Birds")
    client.post(f"/api/v1/communities/{other['id']}/follow", json={}, headers=headers)
    page = client.get("/api/v1/communities/follows?limit=1", headers=headers)
    assert page.status_code == 200 and len(page.get_json()["items"]) == 1 and 'rel="next"' in page.headers["Link"]
    rest = client.get(f"/api/v1/communities/follows?limit=1&cursor={page.get_json()['next_cursor']}", headers=headers)
    assert [item["community"] for item in page.get_json()["items"] + rest.get_json()["items"]] == ["night-owls", "early-birds"]

    assert client.delete(url, headers=headers).status_code == 204
    assert client.get(url, headers=headers).status_code == 404
    assert client.get("/api/v1/communities/follows", headers=headers).get_json()["items"][0]["community"] == "early-birds"


def test_the_digest_day_is_the_admins_to_choose(client, make_user, bearer, owner, community):
    url = f"/api/v1/communities/{community['id']}"
    assert client.patch(url, json={"digest_weekday": 4}, headers=owner).get_json()["digest_weekday"] == 4
    assert client.patch(url, json={"digest_weekday": 7}, headers=owner).status_code == 422
    assert client.patch(url, json={"digest_weekday": 2}, headers=bearer(make_user("fan@example.com"))).status_code == 404


def test_a_visitor_follows_by_email_with_a_confirm_link_and_an_account_in_one_click(
        app, client, make_user, login, community):
    page = client.get("/c/night-owls")
    assert page.status_code == 200 and "Follow Night Owls" in page.get_data(as_text=True)
    token = csrf_token(client, "/c/night-owls")
    refused = client.post("/c/night-owls/follow", data={"csrf_token": token, "mode": "new_events", "email": "nope"})
    assert refused.status_code == 422 and "doesn" in refused.get_data(as_text=True)
    assert client.post("/c/night-owls/follow", data={"csrf_token": token, "mode": "digest",
                                                      "email": "visitor@example.com"}).status_code == 302
    with app.app_context():
        follow = db.session.scalar(select(CommunityFollow).where(CommunityFollow.user.has(email="visitor@example.com")))
        assert follow.status == SubscriptionStatus.PENDING
        [row] = db.session.scalars(select(OutboxItem).where(OutboxItem.kind == OutboxKind.ONE_OFF_MAIL)).all()
        assert row.payload["mail"] == "community_follow" and row.subject_id == follow.id

    login(make_user("member@example.com"))
    token = csrf_token(client, "/c/night-owls")
    assert client.post("/c/night-owls/follow", data={"csrf_token": token, "mode": "every_event"}).status_code == 302
    with app.app_context():
        follow = db.session.scalar(select(CommunityFollow).where(CommunityFollow.user.has(email="member@example.com")))
        assert follow.status == SubscriptionStatus.ACTIVE and follow.mode.value == "every_event"


def test_the_feeds_list_the_communitys_upcoming_public_events(client, owner, community):
    create_event(client, owner, title="Owl walk", community_id=community["id"])
    create_event(client, owner, title="Secret roost", community_id=community["id"], visibility="private")

    ics = client.get("/c/night-owls.ics")
    assert ics.status_code == 200 and ics.mimetype == "text/calendar"
    assert "SUMMARY:Owl walk" in ics.get_data(as_text=True) and "Secret roost" not in ics.get_data(as_text=True)

    atom = client.get("/c/night-owls/feed.atom")
    assert atom.mimetype == "application/atom+xml"
    titles = [t.text for t in ElementTree.fromstring(atom.data).iter("{http://www.w3.org/2005/Atom}title")]
    assert titles == ["Night Owls", "Owl walk"]
    page = client.get("/c/night-owls").get_data(as_text=True)
    assert 'property="og:title"' in page or 'name="twitter:card"' in page


def test_the_embed_may_be_framed_anywhere_and_oembed_describes_it(client, community):
    embed = client.get("/c/night-owls/embed")
    assert embed.status_code == 200
    assert "frame-ancestors *" in embed.headers["Content-Security-Policy"]
    assert "default-src 'self'" in embed.headers["Content-Security-Policy"]
    assert "X-Frame-Options" not in embed.headers and "Set-Cookie" not in embed.headers
    assert 'target="_blank" rel="noopener"' in embed.get_data(as_text=True)
    assert "frame-ancestors 'none'" in client.get("/c/night-owls").headers["Content-Security-Policy"]  # that route only

    page = client.get("/c/night-owls").get_data(as_text=True)
    assert 'type="application/json+oembed"' in page
    answer = client.get("/oembed?url=http://soonish.test/c/night-owls&format=json&maxwidth=300")
    body = answer.get_json()
    assert body["type"] == "rich" and body["version"] == "1.0" and body["width"] == 300
    assert 'src="http://soonish.test/c/night-owls/embed"' in body["html"]
    assert client.get("/oembed?url=http://soonish.test/c/night-owls&format=xml").status_code == 501
    assert client.get("/oembed?url=http://elsewhere.test/c/night-owls").status_code == 404
    assert client.get("/oembed").status_code == 422
    assert client.get("/oembed?url=http://soonish.test/c/night-owls&maxwidth=wide").status_code == 422


def test_chat_follows_a_community_in_a_dm_or_for_a_channel_its_managers_only(app, community):
    commands = Commands(app)
    reply = commands.run(ALICE, "subscribe night-owls")
    assert reply.ok and "You follow Night Owls" in reply.text
    in_channel = dataclasses.replace(ALICE, channel_id="C0OWLS", channel_name="owls")
    refused = commands.run(in_channel, "subscribe night-owls here")
    assert not refused.ok and "manage this channel" in refused.text
    managing = dataclasses.replace(in_channel, manages_channel=lambda: True)
    assert commands.run(managing, "subscribe http://soonish.test/c/night-owls here").ok
    with app.app_context():
        routes = [follow.selectors for follow in db.session.scalars(select(CommunityFollow).order_by(CommunityFollow.id))]
        identities = [db.session.get(ChatIdentity, route[0]["chat_identity_id"]) for route in routes]
        assert [identity.is_channel for identity in identities] == [False, True]  # Alice's DM, then the channel
    assert commands.run(ALICE, "unsubscribe night-owls").ok
    assert not commands.run(ALICE, "unsubscribe night-owls").ok  # once is enough


def test_owners_and_admins_see_the_followers_masked_a_page_at_a_time_and_no_one_else(
        app, client, team, make_user, bearer):
    people, headers, community = team
    url = f"/api/v1/communities/{community['id']}/followers"
    for email, mode in (("zoe.reader@example.com", "digest"), ("max@example.org", "every_event")):
        assert client.post(f"/api/v1/communities/{community['id']}/follow", json={"mode": mode},
                           headers=bearer(make_user(email))).status_code == 201

    first = client.get(f"{url}?limit=1", headers=headers["admin"])
    assert first.status_code == 200 and 'rel="next"' in first.headers["Link"]
    rest = client.get(f"{url}?limit=1&cursor={first.get_json()['next_cursor']}", headers=headers["admin"])
    rows = first.get_json()["items"] + rest.get_json()["items"]
    assert rest.get_json()["next_cursor"] is None
    assert [(row["address"], row["mode"]) for row in rows] == [("z•••@example.com", "digest"), ("m•••@example.org", "every_event")]
    assert "zoe.reader" not in first.get_data(as_text=True) + rest.get_data(as_text=True)
    assert client.get(url, headers=headers["owner"]).status_code == 200
    for who, status in (("host", 403), ("announcer", 403), ("follower", 404), ("stranger", 404)):
        assert client.get(url, headers=headers[who]).status_code == status, who
    assert client.get(f"{url}?limit=0", headers=headers["owner"]).status_code == 422
    bad = client.get(f"{url}?cursor=nope", headers=headers["owner"])
    assert bad.status_code == 422 and "cursor" in str(bad.get_json())

    spec = client.get("/api/v1/openapi.json").get_json()
    operation = spec["paths"]["/api/v1/communities/{community_id}/followers"]["get"]
    assert {"limit", "cursor"} <= {p["name"] for p in operation["parameters"]}


def test_the_followers_page_is_for_owners_and_admins(app, client, team, make_user, bearer, login):
    people, headers, community = team
    client.post(f"/api/v1/communities/{community['id']}/follow", json={"mode": "new_events"},
                headers=bearer(make_user("zoe.reader@example.com")))
    create_event(client, headers["owner"], community_id=community["id"])
    for who, status in (("admin", 200), ("host", 403), ("stranger", 404)):
        browser = app.test_client()
        browser.post("/login", data={"email": people[who].email, "password": PASSWORD,
                                     "csrf_token": csrf_token(browser, "/login")})
        page = browser.get(f"/c/{community['slug']}/followers")
        assert page.status_code == status, who
        offered = "/followers" in browser.get(f"/c/{community['slug']}").get_data(as_text=True)
        assert offered == (status == 200), who
    html = page_of(app, people["admin"], f"/c/{community['slug']}/followers")
    assert "z•••@example.com" in html and "Tell me about new events" in html and "zoe.reader" not in html
    assert "Not a cursor from this list" in page_of(app, people["admin"], f"/c/{community['slug']}/followers?cursor=nope")


def page_of(app, user, path: str) -> str:
    browser = app.test_client()
    browser.post("/login", data={"email": user.email, "password": PASSWORD, "csrf_token": csrf_token(browser, "/login")})
    return browser.get(path).get_data(as_text=True)
