"""Issue 29 in a real browser: an Arabic reader's event page reads right to left (the layout
mirrors through the stylesheet's logical properties) with no axe-core violations, and the
organizer's own words keep their language tag."""
from playwright.sync_api import Page, expect

from ..api_helpers import create_event


def test_the_arabic_event_page_reads_right_to_left_without_axe_violations(
    browser, client, organizer, live_server, axe_violations,
):
    event = create_event(client, organizer, title="Lesekreis", description="Wir lesen Kapitel sechs.",
                         language="de")
    page: Page = browser.new_page(locale="ar", viewport={"width": 1280, "height": 900})  # Accept-Language: ar
    page.goto(f"{live_server}/e/{event['slug']}")
    html = page.locator("html")
    expect(html).to_have_attribute("dir", "rtl")
    expect(html).to_have_attribute("lang", "ar")
    expect(page.locator("#event-title")).to_have_attribute("lang", "de")
    # Mirrored: the page's start edge is on the right, so the brand sits right of the menu.
    assert page.evaluate("getComputedStyle(document.body).direction") == "rtl"
    brand, nav = page.locator(".brand").bounding_box(), page.locator("#main-nav").bounding_box()
    assert brand["x"] > nav["x"]
    assert axe_violations(page) == []
    page.close()
