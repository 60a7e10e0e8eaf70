"""Issue 13 in a real browser: a follower answers "Going" on the event page and the count moves
for them at once and, without a reload, on the organizer's open tab."""
from playwright.sync_api import Page, expect

from .conftest import LIVE_UPDATE_TIMEOUT_MS, create_event, register


def test_answer_going_and_see_the_count_move_live(page: Page, browser, live_server, screenshot, page_problems):
    register(page, live_server)
    event_url = create_event(page, "Rooftop jazz night")
    organizer_box = page.locator("#rsvp")
    expect(organizer_box.locator('[data-count="going"]')).to_have_text("0")
    expect(organizer_box.locator('[data-count="no_answer"]')).to_have_text("0")

    guest_context = browser.new_context(timezone_id="Europe/Paris", locale="en-GB")
    guest = guest_context.new_page()
    register(guest, live_server, name="Grace Guest", email="grace@example.com")
    guest.goto(event_url)
    box = guest.locator("#rsvp")
    expect(box.locator('[data-count="going"]')).to_have_text("0")
    box.get_by_role("button", name="Going").click()
    expect(box.locator('[data-count="going"]')).to_have_text("1")
    expect(box.get_by_role("button", name="Going")).to_have_attribute("aria-pressed", "true")
    screenshot(guest, "event-page-rsvp-going")

    # The organizer's tab was left open: its box polls and the count moves by itself.
    expect(organizer_box.locator('[data-count="going"]')).to_have_text("1", timeout=LIVE_UPDATE_TIMEOUT_MS)

    box.get_by_role("button", name="Can't go").click()
    expect(box.locator('[data-count="no"]')).to_have_text("1")
    expect(organizer_box.locator('[data-count="going"]')).to_have_text("0", timeout=LIVE_UPDATE_TIMEOUT_MS)
    expect(organizer_box.locator('[data-count="no"]')).to_have_text("1", timeout=LIVE_UPDATE_TIMEOUT_MS)
    screenshot(page, "event-page-rsvp-organizer")
    guest_context.close()
    assert page_problems == []
