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


def test_a_series_follower_leaves_every_occurrence_from_one_occurrences_manage_page(
        page: Page, app, live_server, make_user, bearer, screenshot, page_problems, axe_violations):
    from sqlalchemy import select

    from soonish.models import SeriesFollow, Subscription, SubscriptionStatus, db
    from soonish.services.subscriptions import manage_token

    api = app.test_client()
    start = date.today() + timedelta(days=3)
    series = api.post("/api/v1/series", headers=bearer(make_user("host@example.com")), json={
        "title": "Choir practice", "timezone": "Europe/Paris", "location": "Parish hall",
        "starts_at": f"{start}T19:00:00", "rrule": "FREQ=WEEKLY;COUNT=3"}).get_json()
    singer = make_user("singer@example.com")
    assert api.post(f"/api/v1/series/{series['id']}/follow", headers=bearer(singer)).status_code == 201
    with app.app_context():
        first = db.session.scalar(select(Subscription).where(
            Subscription.user_id == singer.id, Subscription.event_id == series["upcoming"][0]["id"]))
        token = manage_token(first)

    page.goto(f"{live_server}/s/manage/{token}")
    expect(page.get_by_text("You follow every date of this series")).to_be_visible()
    assert axe_violations(page) == []
    screenshot(page, "manage-series-occurrence")
    leave = page.locator("form[action^='/series/leave/']").get_attribute("action")
    # The link as a mail carries it opens a page that asks first (link scanners open links).
    page.goto(f"{live_server}{leave}")
    expect(page.get_by_role("heading", name="Leave every date of “Choir practice”?")).to_be_visible()
    assert axe_violations(page) == []
    page.go_back()
    page.get_by_role("button", name="Leave the whole series").click()  # the manage page's: one step
    expect(page.get_by_role("heading", name="You left the whole series")).to_be_visible()
    assert axe_violations(page) == []
    page.goto(f"{live_server}{leave}")
    expect(page.get_by_role("heading", name="You no longer follow this series")).to_be_visible()
    assert axe_violations(page) == []
    assert page_problems == []
    with app.app_context():
        assert db.session.scalar(select(SeriesFollow)) is None
        assert set(db.session.scalars(select(Subscription.status).where(Subscription.user_id == singer.id))) == {
            SubscriptionStatus.UNSUBSCRIBED}
