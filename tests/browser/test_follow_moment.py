"""The follow moment in a real browser: a follower adds ntfy from the channel catalogue (server
and topic only), the test message reaches a local ntfy-speaking sink, and they follow an event
through it."""
from playwright.sync_api import Page, expect

from ..sinks import wait_until
from .conftest import create_event, register


def test_follower_adds_ntfy_from_the_catalogue_and_follows_through_it(
        page: Page, browser, live_server, http_sink, screenshot, page_problems):
    organizer_context = browser.new_context()
    organizer = organizer_context.new_page()
    register(organizer, live_server)
    event_url = create_event(organizer, "Book club", starts_at="2031-03-10T19:30", location="Library, room 2")
    organizer_context.close()

    register(page, live_server, name="Bea Reader", email="bea@example.com")
    page.get_by_role("navigation").get_by_role("link", name="Channels").click()
    page.get_by_role("list", name="Services you can add").get_by_role("link", name="ntfy").click()
    expect(page.get_by_role("heading", name="Add ntfy")).to_be_visible()
    expect(page.get_by_role("link", name="Where do I find these?")).to_have_attribute("href", "https://docs.ntfy.sh/subscribe/phone/")

    # A topic with a space is explained beside the field; nothing is saved.
    page.get_by_label("Server").fill(f"http://127.0.0.1:{http_sink.port}")
    page.get_by_label("Topic").fill("bea phone")
    page.get_by_role("button", name="Add and send a test").click()
    expect(page.locator("#field-topic-error")).to_contain_text("expected 1–64 letters, digits, - or _")
    expect(page.get_by_label("Topic")).to_have_attribute("aria-invalid", "true")
    assert http_sink.delivered() == []

    page.get_by_label("Topic").fill("bea-phone")
    expect(page.get_by_text(f"ntfy://127.0.0.1:{http_sink.port}/bea-phone")).to_be_visible()  # live, before saving
    screenshot(page, "channel-catalogue-ntfy")
    page.get_by_role("button", name="Add and send a test").click()
    expect(page.get_by_role("status").first).to_contain_text("Channel “ntfy” added. Test message sent.")
    [test] = http_sink.delivered()
    assert test.body["topic"] == "bea-phone" and test.body["title"] == "Soonish test message"
    # The phone subscribe link, once, with a QR code of it.
    subscribe = page.locator("#ntfy-subscribe")
    expect(subscribe.get_by_role("link")).to_have_attribute("href", f"ntfy://127.0.0.1:{http_sink.port}/bea-phone")
    expect(subscribe.locator("svg")).to_be_visible()
    expect(page.locator(".channel").filter(has_text="ntfy").locator("code")).to_have_text("ntfy://127.0.0.1")
    screenshot(page, "channels-after-ntfy")

    page.goto(event_url)
    box = page.locator("#subscribe")
    box.get_by_label("ntfy").check()
    box.get_by_role("button", name="Follow").click()
    expect(page.get_by_role("status").first).to_contain_text("You're following Book club")
    wait_until(lambda: any(r.body.get("title") == "You're following Book club" and r.body.get("topic") == "bea-phone"
                           for r in http_sink.delivered()), message="the welcome at the ntfy topic")
    assert page_problems == []
