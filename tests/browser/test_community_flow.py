"""Issue 25's must-show in a real browser: a community is made and a co-host invited by an email
link (from the real SMTP server), who accepts it signed in; a visitor follows the community with
"tell me about new events" (an address, confirmed by mail); the co-host's new event reaches the
follower as one mail, whose link follows the event with one tap. axe finds nothing on the pages
the invitee and the follower see.

Running the community (creating it, inviting, creating the co-host's event in it) is done over
the API, as the web app offers those only there."""
import re

from playwright.sync_api import Page, expect
from sqlalchemy import select

from soonish.models import Notification, NotificationKind, Subscription, SubscriptionStatus, db

from ..api_helpers import create_event
from ..conftest import PASSWORD
from ..sinks import wait_until
from .test_follow_flow import mail_to

FOLLOWER = "owl.fan@example.com"
INVITE_LINK = re.compile(r"http://soonish\.test(/c/invites/\S+)")
CONFIRM_LINK = re.compile(r"http://soonish\.test(/c/follows/confirm/\S+)")
FOLLOW_LINK = re.compile(r"Follow this event \(one tap\): http://soonish\.test(/s/follow/\S+)")


def text_of(mail) -> str:
    return mail.get_body(preferencelist=("plain",)).get_content()


def test_a_co_hosts_new_event_reaches_a_follower_once_who_follows_it_with_one_tap(
    page: Page, browser, app, client, live_server, smtp_sink, make_user, bearer, screenshot, axe_violations,
    page_problems,
):
    owner = bearer(make_user("owner@example.com"))
    created = client.post("/api/v1/communities", json={"name": "Night Owls", "slug": "night-owls"}, headers=owner)
    assert created.status_code == 201, created.get_json()
    community = created.get_json()
    cohost = make_user("cohost@example.com")
    invited = client.post(f"/api/v1/communities/{community['id']}/invites",
                          json={"email": "cohost@example.com", "role": "host"}, headers=owner)
    assert invited.status_code == 201, invited.get_json()

    # The co-host opens the invitation's link, signs in and accepts.
    invite_path = INVITE_LINK.search(text_of(mail_to(smtp_sink, "cohost@example.com", "Help run Night Owls"))).group(1)
    page.goto(live_server + invite_path)
    page.get_by_label("Email").fill("cohost@example.com")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Help run Night Owls?")).to_be_visible()
    expect(page.get_by_text("You are invited as host.")).to_be_visible()
    assert axe_violations(page) == []
    screenshot(page, "community-invite")
    page.get_by_role("button", name="Accept the invitation").click()
    expect(page.get_by_role("status").first).to_contain_text("You help run Night Owls now.")

    # A visitor follows the community by address: "tell me about new events", confirmed by mail.
    visitor_context = browser.new_context(timezone_id="Europe/Paris", locale="en-GB")
    visitor = visitor_context.new_page()
    visitor.goto(f"{live_server}/c/night-owls")
    box = visitor.locator("#follow")
    box.get_by_label("Tell me about new events").check()
    box.get_by_label("Your email").fill(FOLLOWER)
    assert axe_violations(visitor) == []
    box.get_by_role("button", name="Follow Night Owls").click()
    expect(visitor.get_by_role("status").first).to_contain_text(f"open the link we just sent to {FOLLOWER}")
    screenshot(visitor, "community-follow-by-email")
    confirm_path = CONFIRM_LINK.search(text_of(mail_to(smtp_sink, FOLLOWER, "Confirm: follow Night Owls"))).group(1)
    visitor.goto(live_server + confirm_path)
    expect(visitor.get_by_role("heading", level=1)).to_have_text("You follow Night Owls")
    expect(visitor.get_by_label("Tell me about new events")).to_be_checked()
    assert axe_violations(visitor) == []

    # The co-host's new event in the community: one mail to the follower, with the one-tap link.
    event = create_event(client, bearer(cohost), title="Owl walk", community_id=community["id"])
    mail = mail_to(smtp_sink, FOLLOWER, "New from Night Owls: Owl walk")
    with app.app_context():  # its fan-out done: nothing more is on its way
        wait_until(lambda: db.session.scalar(select(Notification.settled_at).where(
            Notification.event_id == event["id"], Notification.kind == NotificationKind.COMMUNITY_EVENT)) is not None,
            message="the new-event message settled")
    assert [m["Subject"] for m in smtp_sink.to(FOLLOWER)] == ["Confirm: follow Night Owls", "New from Night Owls: Owl walk"]

    visitor.goto(live_server + FOLLOW_LINK.search(text_of(mail)).group(1))
    expect(visitor.get_by_role("heading", name="Follow “Owl walk”?")).to_be_visible()
    assert axe_violations(visitor) == []
    screenshot(visitor, "community-follow-suggested")
    visitor.get_by_role("button", name="Follow this event").click()  # the one tap
    expect(visitor).to_have_url(f"{live_server}/e/{event['slug']}")
    expect(visitor.get_by_role("status").first).to_contain_text("You're following Owl walk.")
    assert axe_violations(visitor) == []
    with app.app_context():
        assert db.session.scalar(select(Subscription.status).where(
            Subscription.event_id == event["id"], Subscription.user.has(email=FOLLOWER))) == SubscriptionStatus.ACTIVE
    visitor_context.close()
    assert page_problems == []
