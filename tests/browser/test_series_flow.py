"""An organizer in a real browser makes a weekly series with the event form's Repeats section
and sees its occurrences listed; an occurrence's page leads back to the series."""
import re
from datetime import date, timedelta

from playwright.sync_api import Page, expect

from .conftest import PHONE, register


def test_organizer_creates_a_weekly_series_and_a_visitor_follows_it_by_email(
        page: Page, browser, live_server, screenshot, page_problems, axe_violations):
    register(page, live_server)
    page.get_by_role("link", name="New event").first.click()
    start = date.today() + timedelta(days=3)
    page.get_by_label("Title", exact=True).fill("Choir practice")
    page.get_by_label("Starts").fill(f"{start}T19:00")
    page.get_by_label("Ends").fill(f"{start}T20:30")
    page.get_by_label("Where").fill("Parish hall")
    page.get_by_label("How often").select_option("weekly")
    page.get_by_label("How often").press("Tab")
    # No end yet: the server says so beside Repeats while the form is filled in.
    expect(page.locator("#repeats-error")).to_contain_text("A series must end")
    page.get_by_role("checkbox", name="Tue").check()
    page.get_by_role("checkbox", name="Thu").check()
    page.get_by_label("Number of times").fill("6")
    page.get_by_label("Number of times").press("Tab")
    expect(page.locator("#repeats-error")).to_have_count(0)
    screenshot(page, "series-form")
    page.get_by_role("button", name="Create event").click()

    expect(page).to_have_url(re.compile(r"/series/choir-practice-[0-9a-f]{6}$"))
    expect(page.get_by_role("heading", name="Choir practice")).to_be_visible()
    expect(page.locator(".series-rule")).to_contain_text("every Tuesday and Thursday at 19:00")
    occurrences = page.get_by_role("list", name="Upcoming occurrences").get_by_role("listitem")
    expect(occurrences).to_have_count(6)
    screenshot(page, "series-page")

    occurrences.first.get_by_role("link").click()
    expect(page).to_have_url(re.compile(r"/e/choir-practice-[0-9a-f]{6}$"))
    expect(page.locator(".series-line")).to_contain_text("Part of a series: every Tuesday and Thursday at 19:00")
    page.get_by_role("link", name="See all occurrences").click()
    expect(page).to_have_url(re.compile(r"/series/choir-practice-[0-9a-f]{6}$"))
    series_url = page.url
    page.goto(f"{live_server}/dashboard")
    expect(page.get_by_role("heading", level=2).first).to_be_visible()
    assert axe_violations(page) == []
    assert page_problems == []

    # A visitor on a phone follows every occurrence with an address alone (double opt-in).
    visitor_context = browser.new_context(viewport=PHONE, timezone_id="Europe/Paris", locale="en-GB")
    visitor = visitor_context.new_page()
    visitor.goto(series_url)
    assert visitor.locator('meta[property="og:title"]').get_attribute("content") == "Choir practice"
    box = visitor.locator("#follow-series")
    expect(box.get_by_role("heading")).to_have_text("Follow every occurrence")
    assert axe_violations(visitor) == []
    box.get_by_label("Your email").fill("singer at example")
    box.get_by_label("Your email").press("Enter")
    expect(visitor.locator("#email-error")).to_have_text(re.compile("doesn't look like an email address"))
    expect(box.get_by_role("heading")).to_be_focused()  # the swapped box's heading, not <body>
    box.get_by_label("Your email").fill("singer@example.com")
    box.get_by_role("button", name="Follow by email").click()
    expect(box.get_by_role("heading")).to_have_text("Check your inbox")
    expect(box).to_contain_text("singer@example.com")
    screenshot(visitor, "series-follow-by-email")
    visitor_context.close()
