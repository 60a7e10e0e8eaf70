"""A signed-in follower in a real browser: adds a channel (a real HTTP sink) and tests it, follows
an event by tag with reminder chips, and fine-tunes it on "Events I follow"; mistakes show
beside their fields."""
import re

from playwright.sync_api import Page, expect

from loopback.sinks import wait_until
from .conftest import create_event, register


def test_follower_picks_channels_and_reminders(page: Page, browser, live_server, http_sink, screenshot, page_problems):
    organizer_context = browser.new_context()
    organizer = organizer_context.new_page()
    register(organizer, live_server)
    event_url = create_event(organizer, "Book club", starts_at="2031-03-10T19:30", location="Library, room 2")
    organizer_context.close()

    register(page, live_server, name="Bea Reader", email="bea@example.com")
    page.get_by_role("navigation").get_by_role("link", name="Channels").click()
    expect(page.get_by_role("heading", name="No channels yet, and that's fine")).to_be_visible()

    # What Apprise can't read, and a tag with spaces, are explained beside their fields.
    page.get_by_text("Advanced: paste an Apprise URL").click()
    page.get_by_label("Name").fill("My phone")
    page.get_by_label("Apprise URL").fill("not a url")
    page.get_by_label("Tag").fill("very urgent")
    page.get_by_role("button", name="Add channel").click()
    expect(page.locator("#url-error")).to_contain_text("Apprise doesn't recognise this URL")
    expect(page.get_by_label("Apprise URL")).to_have_attribute("aria-invalid", "true")
    page.get_by_label("Apprise URL").fill(http_sink.url("/phone"))
    page.get_by_label("Tag").fill("urgent")
    page.get_by_role("button", name="Add channel").click()
    expect(page.get_by_role("status").first).to_contain_text("Channel “My phone” added")

    channel = page.locator(".channel").filter(has_text="My phone")
    expect(channel.locator("code")).to_have_text("json://127.0.0.1")  # masked: scheme and host only
    channel.get_by_role("button", name="Send a test").click()
    expect(page.get_by_role("status").first).to_contain_text("Test message sent")
    assert [r.body["title"] for r in http_sink.delivered("/phone")] == ["Soonish test message"]
    screenshot(page, "channels")

    # On the event page: the channel and its tag as checkboxes, reminders with quick chips.
    page.goto(event_url)
    box = page.locator("#subscribe")
    box.get_by_label("Every channel tagged “urgent”").check()
    offsets = box.get_by_label("Remind me before it starts")
    expect(offsets).to_have_value("1d 1h")
    expect(box.get_by_role("button", name=re.compile("^1h"))).to_have_attribute("aria-pressed", "true")
    offsets.fill("99y")
    box.get_by_role("button", name="Follow").click()
    expect(page.locator("#reminder_offsets-error")).to_contain_text("“99y” is not an offset like 1d")
    box = page.locator("#subscribe")
    expect(box.get_by_label("Every channel tagged “urgent”")).to_be_checked()  # choices survive the error
    offsets = box.get_by_label("Remind me before it starts")
    offsets.fill("1d")
    box.get_by_role("button", name=re.compile("^15m")).click()
    expect(offsets).to_have_value("1d 15m")
    box.get_by_role("button", name=re.compile("^1d")).click()
    box.get_by_role("button", name=re.compile("^1w")).click()
    expect(offsets).to_have_value("1w 15m")
    expect(box.get_by_role("button", name=re.compile("^1d"))).to_have_attribute("aria-pressed", "false")
    box.get_by_role("button", name="Follow").click()

    expect(page.get_by_role("status").first).to_contain_text("You're following Book club. We'll remind you 1w and 15m before it starts.")
    box = page.locator("#subscribe")
    expect(box.get_by_role("heading")).to_have_text("You're following this event")
    expect(box.locator(".summary")).to_contain_text("every channel tagged “urgent”")
    # The welcome goes to the channel carrying the tag.
    wait_until(lambda: any(r.body["title"] == "You're following Book club" for r in http_sink.delivered("/phone")),
               message="the welcome at the tagged channel")
    screenshot(page, "event-page-following")

    # "Events I follow": change the reminders; a bad offset is refused in place.
    page.get_by_role("navigation").get_by_role("link", name="Following").click()
    card = page.locator(".subscription-card").filter(has_text="Book club")
    expect(card).to_contain_text("1w")
    card.get_by_text("Change channels or reminders").click()
    card.get_by_label("Remind me before it starts").fill("0m")
    card.get_by_role("button", name="Save").click()
    card = page.locator(".subscription-card").filter(has_text="Book club")
    expect(card.locator(".error")).to_contain_text("“0m” is out of range")
    card.get_by_label("Remind me before it starts").fill("2h")
    card.get_by_role("button", name="Save").click()
    expect(page.get_by_role("status").first).to_contain_text("Saved for Book club. We'll remind you 2h before it starts.")
    screenshot(page, "my-subscriptions")

    assert page_problems == []
