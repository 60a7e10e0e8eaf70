"""An organizer in a real browser: register, create, open, edit, cancel; a visitor's open tab
sees the edit and the cancellation without reloading."""
import re

from playwright.sync_api import Page, expect

from ..conftest import PASSWORD
from .conftest import DESKTOP, IDLE_UPDATE_TIMEOUT_MS, LIVE_UPDATE_TIMEOUT_MS, PHONE, register


def test_organizer_creates_edits_and_cancels_while_a_visitor_watches(
    page: Page, browser, live_server, screenshot, page_problems
):
    register(page, live_server)
    # The page's deferred scripts run after the flash message is parsed and shown: wait for them
    # (on a busy box the check ran in between and found neither).
    page.wait_for_function("typeof htmx === 'object' && typeof Alpine === 'object'", timeout=10_000)

    page.get_by_role("link", name="New event").first.click()
    expect(page.get_by_role("heading", name="New event")).to_be_visible()
    # A new event starts in the organizer's own zone (the browser's), not UTC.
    expect(page.get_by_label("Time zone")).to_have_value("Europe/Paris")
    page.get_by_label("Title", exact=True).fill("Rooftop jazz night")
    page.get_by_label("Starts").fill("2031-06-20T20:00")
    page.get_by_label("Ends").fill("2031-06-20T19:00")
    page.get_by_label("Ends").press("Tab")  # leaving the field fires change: the server checks it

    ends = page.get_by_label("Ends")
    expect(page.locator("#ends_at-error")).to_have_text("The end must be after the start.")
    expect(ends).to_have_attribute("aria-invalid", "true")
    expect(ends).to_have_attribute("aria-describedby", re.compile(r"\bends_at-error\b"))
    # Nothing further down the form is flagged while the organizer is still filling it in.
    expect(page.locator(".error")).to_have_count(1)
    page.get_by_label("Where").fill("Terrasse du Marché, 3 place Carnot, Lyon")
    screenshot(page, "create-form-with-error")

    ends.fill("2031-06-20T23:30")
    ends.press("Tab")
    expect(page.locator("#ends_at-error")).to_have_count(0)
    page.get_by_label("Details").fill("Live quartet from 20:30.\nBring a jacket: it gets windy up there.")
    screenshot(page, "create-form")
    page.get_by_role("button", name="Create event").click()

    expect(page).to_have_url(re.compile(r"/e/rooftop-jazz-night-[0-9a-f]{6}$"))
    expect(page.get_by_role("status").first).to_contain_text("Your event is live")
    event_url = page.url
    # The browser's British English (conftest: en-GB) as Babel writes it, in the event's zone.
    expect(page.locator(".when")).to_contain_text("Fri, 20 Jun 2031, 20:00 CEST – 23:30")
    page.locator(".add-to-calendar summary").click()
    expect(page.get_by_role("link", name="Apple, Outlook desktop, others (.ics)")).to_have_attribute("href", re.compile(r"\.ics$"))

    # A visitor on a phone in Tokyo opens the event in another tab.
    visitor_context = browser.new_context(viewport={"width": 390, "height": 844}, timezone_id="Asia/Tokyo", locale="en-GB")
    visitor = visitor_context.new_page()
    visitor.goto(event_url)
    # 20:00 in Lyon (CEST) is 03:00 the next day in Tokyo; the wording is the browser's locale's.
    expect(visitor.locator(".viewer-time")).to_contain_text(re.compile(r"Your time \(Asia/Tokyo\): Sat,? (21 Jun|Jun 21),? 2031,? 0?3:00"))
    visitor.evaluate("window.openedOnce = true")  # gone if the page reloads

    page.goto(f"{live_server}/")
    screenshot(page, "home")
    page.goto(event_url)
    screenshot(page, "event-page")
    page.get_by_role("navigation").get_by_role("link", name="My events").click()
    screenshot(page, "dashboard")

    # An announcement sent from elsewhere (an API client, no cookies) shows up on the open dashboard.
    api_client = browser.new_context()
    api = api_client.request
    token = api.post(f"{live_server}/api/v1/auth/token", data={"email": "ada@example.com", "password": PASSWORD})
    event_id = re.search(r"/events/(\d+)/edit", page.get_by_role("link", name="Edit").get_attribute("href"))[1]
    sent = api.post(f"{live_server}/api/v1/events/{event_id}/announcements", data={"title": "Doors open at 19:30"},
                    headers={"Authorization": f"Bearer {token.json()['access_token']}"})
    assert sent.status == 201, sent.text()
    expect(page.locator("#organized")).to_contain_text("Doors open at 19:30", timeout=IDLE_UPDATE_TIMEOUT_MS)
    api_client.close()

    # The organizer edits the event in their tab...
    page.get_by_role("link", name="Edit").click()
    page.get_by_label("Title", exact=True).fill("Rooftop jazz night (moved indoors)")
    page.get_by_label("Where").fill("Salle Rameau, Lyon")
    page.get_by_role("button", name="Save changes").click()
    expect(page.get_by_role("status").first).to_contain_text("Saved")

    # ...and the visitor's open tab shows it without a reload.
    expect(visitor.locator("#event-title")).to_have_text("Rooftop jazz night (moved indoors)", timeout=LIVE_UPDATE_TIMEOUT_MS)
    expect(visitor.locator(".where")).to_have_text("Salle Rameau, Lyon")
    expect(visitor.locator(".viewer-time")).to_contain_text("Asia/Tokyo")  # Alpine runs in the swapped fragment
    assert visitor.evaluate("window.openedOnce === true")

    # Cancelling asks first; keeping the event changes nothing.
    page.get_by_role("button", name="Cancel event").click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_be_visible()
    expect(dialog).to_contain_text("Everyone following it is told right away.")
    screenshot(page, "cancel-dialog")
    dialog.get_by_role("button", name="Keep the event").click()
    expect(dialog).to_be_hidden()
    page.get_by_role("button", name="Cancel event").click()
    page.get_by_role("dialog").get_by_role("button", name="Yes, cancel it").click()
    expect(page.get_by_role("status").first).to_contain_text("The event is cancelled")

    expect(visitor.get_by_text("This event is cancelled.")).to_be_visible(timeout=LIVE_UPDATE_TIMEOUT_MS)
    assert visitor.evaluate("window.openedOnce === true")
    screenshot(visitor, "event-page-cancelled")
    visitor.goto(f"{live_server}/e/no-such-event")
    expect(visitor.get_by_role("heading", name="We can't find that page")).to_be_visible()
    screenshot(visitor, "not-found")
    visitor_context.close()

    # On a phone the navigation folds behind a Menu button, on one line with the brand.
    page.set_viewport_size(PHONE)
    account_link = page.get_by_role("navigation").get_by_role("link", name="Account")
    expect(account_link).to_be_hidden()
    menu = page.get_by_role("button", name="Menu")
    assert abs(menu.bounding_box()["y"] - page.locator(".brand").bounding_box()["y"]) < 12
    menu.click()
    expect(menu).to_have_attribute("aria-expanded", "true")
    screenshot(page, "menu-open")
    page.set_viewport_size(PHONE)
    account_link.click()
    page.set_viewport_size(DESKTOP)

    # The organizer makes their personal calendar feed.
    page.get_by_role("button", name="Create my calendar feed").click()
    expect(page.get_by_label("Your feed URL")).to_have_value(re.compile(rf"^{live_server}/calendar/[\w-]+\.ics$"))
    screenshot(page, "account")

    assert page_problems == []
