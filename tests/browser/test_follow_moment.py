"""The follow moment in a real browser: a follower adds ntfy from the channel catalogue (server
and topic only), the test message reaches a local ntfy-speaking sink, and they follow an event
through it; a shared event page carries its card, calendar links in UTC, and a follow bar a
phone shows without scrolling."""
import re

from playwright.sync_api import Page, expect

from loopback.sinks import wait_until
from .conftest import SCREENSHOTS, create_event, register

ALPINE = "**/vendor/alpinejs/alpine.min*.js"  # its hashed name (web/assets.py)


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
    # The answer's Alpine is held back until she has typed again, as on a slow phone connection.
    page.route(ALPINE, lambda route: route.fulfill(status=200, content_type="text/javascript", body=""))
    page.get_by_role("button", name="Add and send a test").click()
    expect(page.locator("#field-topic-error")).to_contain_text("expected 1–64 letters, digits, - or _")
    expect(page.get_by_label("Topic")).to_have_attribute("aria-invalid", "true")
    assert http_sink.delivered() == []

    page.get_by_label("Topic").fill("bea-phone")
    page.unroute(ALPINE)
    page.add_script_tag(url=f"{live_server}/static/vendor/alpinejs/alpine.min.js")
    # What she typed before the script ran stays, and the subscribe link follows it, live, before saving.
    expect(page.get_by_label("Topic")).to_have_value("bea-phone")
    expect(page.get_by_text(f"ntfy://127.0.0.1:{http_sink.port}/bea-phone")).to_be_visible()
    page.get_by_label("Topic").fill("bea-phone2")
    expect(page.get_by_text(f"ntfy://127.0.0.1:{http_sink.port}/bea-phone2")).to_be_visible()
    page.get_by_label("Topic").fill("bea-phone")
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


def test_a_shared_event_page_has_its_card_calendar_links_and_a_phone_follow_bar(
        page: Page, browser, live_server, screenshot, page_problems):
    register(page, live_server)
    event_url = create_event(page, "Rooftop jazz", starts_at="2031-06-20T20:00", location="Hall 2")  # Europe/Paris

    visitor_context = browser.new_context(viewport={"width": 390, "height": 844}, timezone_id="Asia/Tokyo",
                                          locale="en-GB")
    visitor = visitor_context.new_page()
    visitor.goto(event_url)
    # The card a chat app shows: tags present, and the image URL serves a PNG.
    head = visitor.locator("head")
    expect(head.locator('meta[property="og:title"]')).to_have_attribute("content", "Rooftop jazz")
    expect(head.locator('meta[name="twitter:card"]')).to_have_attribute("content", "summary_large_image")
    image_url = head.locator('meta[property="og:image"]').get_attribute("content")
    image = visitor.request.get(image_url.replace("http://soonish.test", live_server))
    assert image.status == 200 and image.headers["content-type"] == "image/png"
    assert image.body()[:8] == b"\x89PNG\r\n\x1a\n"

    # On a phone the call to action is on screen without scrolling: events take RSVPs by
    # default, and going is one act with following (the bar leads to the name + email form).
    bar = visitor.get_by_role("link", name="I'm going")
    expect(bar).to_be_in_viewport()
    box = bar.bounding_box()
    assert box["y"] >= 0 and box["y"] + box["height"] <= 844
    screenshot(visitor, "event-page-visitor")
    visitor.set_viewport_size({"width": 390, "height": 844})  # screenshot() leaves a desktop size
    bar.click()
    expect(visitor.get_by_label("Email")).to_be_in_viewport()

    # Google and Outlook get 20:00 Paris summer time as 18:00 UTC, whatever the viewer's zone.
    visitor.locator(".add-to-calendar summary").click()
    expect(visitor.get_by_role("link", name="Google Calendar")).to_have_attribute(
        "href", re.compile(r"dates=20310620T180000Z%2F20310620T190000Z"))
    expect(visitor.get_by_role("link", name="Outlook.com")).to_have_attribute(
        "href", re.compile(r"startdt=2031-06-20T18%3A00%3A00Z&enddt=2031-06-20T19%3A00%3A00Z"))
    visitor.screenshot(path=str(SCREENSHOTS / "event-calendar-menu-phone.png"))
    visitor_context.close()
    assert page_problems == []
