"""Issue 25's must-show in a real browser: an organizer makes a community and invites a co-host
by an email link (from the real SMTP server), who accepts it signed in and creates an event in
it; a visitor who follows the community with "tell me about new events" (an address, confirmed
by mail) gets one mail about it, whose link follows the event with one tap. axe finds nothing on
the pages visited."""
import re

from playwright.sync_api import Page, expect
from sqlalchemy import select

from soonish.models import Event, Notification, NotificationKind, Subscription, SubscriptionStatus, db

from loopback.sinks import wait_until
from .conftest import register
from .test_follow_flow import mail_to

FOLLOWER = "owl.fan@example.com"
INVITE_LINK = re.compile(r"http://soonish\.test(/c/invites/\S+)")
CONFIRM_LINK = re.compile(r"http://soonish\.test(/c/follows/confirm/\S+)")
FOLLOW_LINK = re.compile(r"Follow this event \(one tap\): http://soonish\.test(/s/follow/\S+)")


def text_of(mail) -> str:
    return mail.get_body(preferencelist=("plain",)).get_content()


def test_a_co_hosts_new_event_reaches_a_follower_once_who_follows_it_with_one_tap(
    page: Page, browser, app, live_server, smtp_sink, screenshot, axe_violations, page_problems,
):
    # The organizer makes the community and invites a co-host.
    register(page, live_server, name="Ada Host", email="ada@example.com")
    page.get_by_role("link", name="New community").click()
    page.get_by_label("Name").fill("Night Owls")
    page.get_by_label("Address").fill("night-owls")
    page.get_by_label("About it").fill("Walks and talks after dark.")
    assert axe_violations(page) == []
    page.get_by_role("button", name="Create the community").click()
    expect(page.get_by_role("status").first).to_contain_text("Night Owls is ready.")
    page.get_by_label("Their email").fill("cohost@example.com")
    page.get_by_label("Role").select_option("host")
    page.get_by_role("button", name="Send the invitation").click()
    expect(page.get_by_role("status").first).to_contain_text("Invitation sent to cohost@example.com.")
    assert axe_violations(page) == []
    screenshot(page, "community-members")

    # The co-host opens the invitation's link, makes an account, accepts.
    invite_path = INVITE_LINK.search(text_of(mail_to(smtp_sink, "cohost@example.com", "Help run Night Owls"))).group(1)
    cohost_context = browser.new_context(timezone_id="Europe/Paris", locale="en-GB")
    cohost = cohost_context.new_page()
    register(cohost, live_server, name="Bo Cohost", email="cohost@example.com")
    cohost.goto(live_server + invite_path)
    expect(cohost.get_by_role("heading", name="Help run Night Owls?")).to_be_visible()
    expect(cohost.get_by_text("You are invited as host.")).to_be_visible()
    assert axe_violations(cohost) == []
    screenshot(cohost, "community-invite")
    cohost.get_by_role("button", name="Accept the invitation").click()
    expect(cohost.get_by_role("status").first).to_contain_text("You help run Night Owls now.")

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

    # The co-host creates an event in the community.
    cohost.get_by_role("link", name="New event").first.click()
    cohost.get_by_label("Title", exact=True).fill("Owl walk")
    cohost.get_by_label("Starts").fill("2031-06-20T21:00")
    cohost.get_by_label("Hosted by").select_option(label="Night Owls")
    # A change asks the server to check the field: while it does, the submit button is dimmed (busy).
    expect(cohost.locator("#event-form.htmx-request")).to_have_count(0)
    assert axe_violations(cohost) == []
    cohost.get_by_role("button", name="Create event").click()
    expect(cohost.get_by_role("status").first).to_contain_text("Your event is live")
    with app.app_context():
        event = db.session.scalar(select(Event).where(Event.title == "Owl walk"))
        assert event.community.slug == "night-owls"
        event_id, event_slug = event.id, event.slug

    # One mail to the follower, with the one-tap link.
    mail = mail_to(smtp_sink, FOLLOWER, "New from Night Owls: Owl walk")
    with app.app_context():  # its fan-out done: nothing more is on its way
        wait_until(lambda: db.session.scalar(select(Notification.settled_at).where(
            Notification.event_id == event_id, Notification.kind == NotificationKind.COMMUNITY_EVENT)) is not None,
            message="the new-event message settled")
    assert [m["Subject"] for m in smtp_sink.to(FOLLOWER)] == ["Confirm: follow Night Owls", "New from Night Owls: Owl walk"]

    visitor.goto(live_server + FOLLOW_LINK.search(text_of(mail)).group(1))
    expect(visitor.get_by_role("heading", name="Follow “Owl walk”?")).to_be_visible()
    assert axe_violations(visitor) == []
    screenshot(visitor, "community-follow-suggested")
    visitor.get_by_role("button", name="Follow this event").click()  # the one tap
    expect(visitor).to_have_url(f"{live_server}/e/{event_slug}")
    expect(visitor.get_by_role("status").first).to_contain_text("You're following Owl walk.")
    assert axe_violations(visitor) == []
    with app.app_context():
        assert db.session.scalar(select(Subscription.status).where(
            Subscription.event_id == event_id, Subscription.user.has(email=FOLLOWER))) == SubscriptionStatus.ACTIVE
    cohost_context.close()
    visitor_context.close()
    assert page_problems == []
