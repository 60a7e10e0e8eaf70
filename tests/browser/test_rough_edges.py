"""Issue 10's page items in a real browser: focus after an in-place swap (16), home cards in line
(17), and how the expired form, the expired confirm link, the cancel reason and the folded
welcomes look (screenshots in artifacts/screenshots/)."""
import re
import time

import pytest
from playwright.sync_api import Page, expect

from soonish.links import LinkPurpose, sign
from soonish.models import Subscription, db

from loopback.sinks import wait_until
from .conftest import LIVE_UPDATE_TIMEOUT_MS, PHONE, create_event, register


def test_swapped_boxes_hand_the_focus_to_their_heading(page: Page, browser, live_server, screenshot, page_problems):
    register(page, live_server)
    event_url = create_event(page, "Poetry night")

    visitor_context = browser.new_context(viewport=PHONE, timezone_id="Europe/Paris", locale="en-GB")
    visitor = visitor_context.new_page()
    visitor.goto(event_url)
    box = visitor.locator("#subscribe")
    # A keyboard user sends a mistyped address: the box is swapped for one showing the mistake.
    box.get_by_label("Your email").fill("poet at example")
    box.get_by_label("Your email").press("Enter")
    expect(visitor.locator("#email-error")).to_have_text(re.compile("doesn't look like an email address"))
    expect(visitor.locator("#subscribe-title")).to_be_focused()
    assert visitor.evaluate("document.activeElement.id") == "subscribe-title"  # not <body>
    screenshot(visitor, "subscribe-error-focused")
    visitor_context.close()

    # The organizer's panel, swapped after an announcement, does the same.
    panel = page.locator("#organizer")
    panel.get_by_label("Headline").fill("Doors open at 19:00")
    panel.get_by_label("Headline").press("Enter")
    expect(panel.get_by_role("status")).to_contain_text("on its way to every follower")
    expect(page.locator("#organizer-title")).to_be_focused()
    # A poll of the delivery counts never takes the focus from where the organizer put it.
    panel.get_by_label("Headline").focus()
    # The counts are sending, so they poll every 2 s and each answer replaces the element.
    page.evaluate("document.getElementById('deliveries').dataset.before = 'poll'")
    page.wait_for_function("!document.getElementById('deliveries').dataset.before")  # a poll swapped in
    expect(panel.get_by_label("Headline")).to_be_focused()
    assert page_problems == []


def test_home_page_cards_line_up_in_their_grid(page: Page, live_server, screenshot):
    register(page, live_server)
    for title in ("Book club", "Rooftop jazz night", "Choir practice"):
        create_event(page, title)
    page.goto(f"{live_server}/")
    cards = page.locator(".event-grid > .card")
    expect(cards).to_have_count(3)
    tops = [round(box["y"]) for box in (cards.nth(i).bounding_box() for i in range(3))]
    lefts = [round(cards.nth(i).bounding_box()["x"]) for i in range(3)]
    assert len(set(lefts)) == 3, f"one row of three expected at 1280 px, got x={lefts}"
    assert len(set(tops)) == 1, f"the cards' tops differ: {tops}"
    screenshot(page, "home-cards-in-line")


def test_an_expired_form_leads_back_to_it(page: Page, live_server, screenshot):
    register(page, live_server)
    page.get_by_role("link", name="New event").first.click()
    page.get_by_label("Title", exact=True).fill("Book club")
    page.get_by_label("Starts").fill("2031-06-20T20:00")
    page.context.clear_cookies()  # the session the form's token belonged to is gone
    page.get_by_role("button", name="Create event").click()
    expect(page.get_by_role("heading", name="This form expired — reload and try again")).to_be_visible()
    back = page.get_by_role("link", name="Back to the form")
    expect(back).to_have_attribute("href", re.compile(r"/events/new$"))
    screenshot(page, "form-expired")
    back.click()
    expect(page).to_have_url(re.compile(r"/(events/new|login\?next=/events/new)$"))


@pytest.fixture
def short_confirm_links(app_config):
    app_config["CONFIRM_LINK_MAX_AGE"] = 1


def test_an_expired_confirm_link_offers_to_follow_again(short_confirm_links, app, page: Page, live_server, screenshot):
    register(page, live_server)
    event_url = create_event(page, "Poetry night")
    page.context.clear_cookies()  # now an anonymous visitor
    page.goto(event_url)
    page.locator("#subscribe").get_by_label("Your email").fill("late@example.com")
    page.locator("#subscribe").get_by_role("button", name="Just keep me posted").click()
    expect(page.locator("#subscribe").get_by_role("heading")).to_have_text("Check your inbox")
    with app.app_context():
        subscription = db.session.query(Subscription).one()
        token = sign(app.config["SECRET_KEY"], LinkPurpose.CONFIRM, subscription.id)
    time.sleep(2.1)  # past the link's one second of life

    response = page.goto(f"{live_server}/s/confirm/{token}")
    assert response.status == 410
    expect(page.get_by_role("heading", level=1)).to_have_text("That link has expired")
    screenshot(page, "confirm-link-expired")
    page.get_by_role("link", name="Follow again").click()
    expect(page).to_have_url(event_url + "#subscribe")
    expect(page.locator("#subscribe").get_by_role("heading")).to_be_visible()


def test_cancel_with_a_reason_and_welcomes_folded(page: Page, browser, live_server, screenshot, smtp_sink):
    register(page, live_server)
    event_url = create_event(page, "Poetry night")
    for name in ("ann", "ben"):  # two followers with accounts: a welcome each
        context = browser.new_context(timezone_id="Europe/Paris", locale="en-GB")
        follower = context.new_page()
        register(follower, live_server, name=name.title(), email=f"{name}@example.com")
        follower.goto(event_url)
        follower.locator("#subscribe").get_by_role("button", name="Follow").click()
        expect(follower.locator("#subscribe").get_by_role("heading")).to_have_text("You're following this event")
        context.close()

    page.reload()
    welcomes = page.locator("[data-welcomes]")
    expect(welcomes).to_have_count(1)
    expect(welcomes).to_contain_text("Welcomes — 2 delivered", timeout=LIVE_UPDATE_TIMEOUT_MS * 2)
    expect(page.locator("#deliveries .report")).to_have_count(1)
    expect(page.locator("#deliveries time").first).to_have_text(re.compile(r"\d{1,2}:\d{2}(\s[AP]M)? CES?T$"))
    screenshot(page, "organizer-panel-welcomes-folded")
    welcomes.get_by_role("link", name="Who got them").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Welcomes to new followers")
    expect(page.locator("#recipients tbody tr")).to_have_count(2)
    screenshot(page, "who-got-the-welcomes")
    page.go_back()

    page.get_by_role("button", name="Cancel event").click()
    dialog = page.get_by_role("dialog")
    reason = dialog.get_by_label("Why? (optional)")
    expect(reason).to_have_attribute("maxlength", "500")
    reason.fill("The poet is ill; a new date follows.")
    screenshot(page, "cancel-with-reason")
    dialog.get_by_role("button", name="Yes, cancel it").click()
    expect(page.get_by_role("status").first).to_contain_text("cancelled")
    expect(page.locator(".cancel-reason")).to_have_text("The organizer says: “The poet is ill; a new date follows.”")
    screenshot(page, "event-cancelled-with-reason")

    def cancel_mail():
        return [m for m in smtp_sink.to("ann@example.com") if m["Subject"] == "Cancelled: Poetry night"]

    wait_until(cancel_mail, message="the cancel mail")
    assert "The poet is ill; a new date follows." in cancel_mail()[0].get_body(preferencelist=("plain",)).get_content()
