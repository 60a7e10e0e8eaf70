"""Issue 5's first must-show in a real browser: an organizer registers and creates an event, an
anonymous visitor follows it by email and confirms with the link from a real SMTP server, the
organizer announces and watches it delivered without reloading, and an open tab sees an edit."""
import re

from playwright.sync_api import Page, expect

from loopback.sinks import wait_until
from .conftest import LIVE_UPDATE_TIMEOUT_MS, PHONE, create_event, register

VISITOR = "visitor@example.com"
CONFIRM_LINK = re.compile(r"http://soonish\.test(/s/confirm/\S+)")


def mail_to(smtp_sink, address: str, subject_part: str):
    """The first mail to ``address`` whose subject has ``subject_part``, once it arrives."""
    found = []

    def arrived() -> bool:
        found[:] = [m for m in smtp_sink.to(address) if subject_part in m["Subject"]]
        return bool(found)

    wait_until(arrived, message=f"a mail to {address} about {subject_part!r}")
    return found[0]


def delivered_counts(scope) -> dict[str, str]:
    return {kind: scope.locator(f'[data-count="{kind}"]').first.inner_text() for kind in ("sent", "failed", "pending")}


def test_visitor_follows_by_email_and_the_organizer_sees_the_announcement_delivered_live(
    page: Page, browser, live_server, smtp_sink, screenshot, page_problems
):
    register(page, live_server)
    event_url = create_event(page, "Rooftop jazz night", location="Terrasse du Marché, Lyon")
    panel = page.locator("#organizer")
    expect(panel).to_contain_text("0 followers")
    expect(panel).to_contain_text("Nothing sent yet")

    # An anonymous visitor on a phone opens the event page in their own browser.
    visitor_context = browser.new_context(viewport=PHONE, timezone_id="Europe/Paris", locale="en-GB")
    visitor = visitor_context.new_page()
    visitor.goto(event_url)
    box = visitor.locator("#subscribe")
    expect(box.get_by_role("heading")).to_have_text("Are you going?")
    screenshot(visitor, "event-page-visitor")

    # A mistake shows beside the field, swapped in without leaving the page.
    visitor.evaluate("window.openedOnce = true")
    box.get_by_label("Your email").fill("visitor at example")
    box.get_by_role("button", name="Just keep me posted").click()
    email = visitor.locator("#subscribe").get_by_label("Your email")
    expect(visitor.locator("#email-error")).to_have_text(re.compile("doesn't look like an email address"))
    expect(email).to_have_attribute("aria-invalid", "true")
    expect(email).to_have_value("visitor at example")
    assert visitor.evaluate("window.openedOnce === true")
    screenshot(visitor, "subscribe-error")

    email.fill(VISITOR)
    visitor.get_by_role("button", name="Just keep me posted").click()
    expect(visitor.get_by_role("status").first).to_contain_text(f"open the link we just sent to {VISITOR}")
    expect(box.get_by_role("heading")).to_have_text("Check your inbox")
    screenshot(visitor, "subscribe-check-your-inbox")

    # The confirm link comes from the mail the real SMTP server received.
    confirm_mail = mail_to(smtp_sink, VISITOR, "Rooftop jazz night")
    confirm_path = CONFIRM_LINK.search(confirm_mail.get_body(preferencelist=("plain",)).get_content()).group(1)
    visitor.goto(live_server + confirm_path)
    expect(visitor.get_by_role("heading", level=1)).to_have_text("You're following “Rooftop jazz night”")
    expect(visitor.locator(".summary")).to_contain_text("1d")
    screenshot(visitor, "subscribe-confirmed")

    # From there (as from every mail), the reminders can change: one more with a chip.
    visitor.get_by_role("link", name="Change reminders").click()
    visitor.get_by_role("button", name=re.compile("^15m")).click()
    expect(visitor.get_by_label("Remind me before it starts")).to_have_value("1d 1h 15m")
    screenshot(visitor, "manage-reminders")
    visitor.get_by_role("button", name="Save reminders").click()
    expect(visitor.get_by_role("status").first).to_contain_text("We'll remind you 1d, 1h and 15m before it starts.")  # en-GB: no serial comma
    mail_to(smtp_sink, VISITOR, "You're following")  # the welcome, through the event's workflow

    # The visitor keeps the event page open while the organizer works.
    visitor.goto(event_url)
    expect(box.get_by_role("heading")).to_have_text("You're following by email")
    visitor.evaluate("window.openedOnce = true")

    # The organizer sees the new follower and announces; the panel is swapped in place and its
    # counts move from sending to delivered with no reload.
    page.reload()
    expect(panel).to_contain_text("1 follower")
    page.evaluate("window.openedOnce = true")
    panel.get_by_label("Headline").fill("Doors open at 19:30")
    panel.get_by_label("Message").fill("Come early for the sunset.")
    panel.get_by_role("button", name="Send to followers").click()
    expect(panel.get_by_role("status")).to_contain_text("on its way to every follower")
    expect(panel.get_by_label("Headline")).to_have_value("")
    announcement = panel.locator(".report").filter(has_text="Doors open at 19:30")
    expect(announcement.locator('[data-count="sent"]')).to_have_text("1", timeout=LIVE_UPDATE_TIMEOUT_MS)
    assert delivered_counts(announcement) == {"sent": "1", "failed": "0", "pending": "0"}
    expect(announcement).not_to_contain_text("sending")
    assert page.evaluate("window.openedOnce === true")
    assert "Come early for the sunset." in mail_to(smtp_sink, VISITOR, "Doors open at 19:30").get_body(
        preferencelist=("plain",)).get_content()
    screenshot(page, "organizer-panel-delivered")

    # Who got it: the visitor, masked, delivered by email; the filter swaps the list in place.
    announcement.get_by_role("link", name="Who got it").click()
    recipients = page.locator("#recipients")
    expect(recipients.locator("tbody tr")).to_have_count(1)
    expect(recipients.locator("tbody tr")).to_contain_text(f"{VISITOR[0]}•••@{VISITOR.split('@')[1]}")
    expect(recipients.locator("tbody tr")).to_contain_text("Delivered")
    assert VISITOR not in recipients.inner_text()
    recipients.get_by_role("link", name="Delivered 1").click()
    expect(page).to_have_url(re.compile(r"status=sent"))
    expect(recipients.get_by_role("link", name="Delivered 1")).to_have_attribute("aria-current", "page")
    screenshot(page, "who-got-it")

    # The dashboard shows the follower and the latest message delivered.
    page.get_by_role("navigation").get_by_role("link", name="My events").click()
    row = page.locator(".organized-item").filter(has_text="Rooftop jazz night")
    expect(row).to_contain_text("1 follower")
    expect(row).to_contain_text("Latest: Doors open at 19:30")
    assert delivered_counts(row) == {"sent": "1", "failed": "0", "pending": "0"}
    screenshot(page, "dashboard-with-deliveries")

    # An edit reaches the visitor's open tab without a reload.
    page.goto(event_url)
    page.get_by_role("link", name="Edit").click()
    page.get_by_label("Title", exact=True).fill("Rooftop jazz night (moved indoors)")
    page.get_by_role("button", name="Save changes").click()
    expect(page.get_by_role("status").first).to_contain_text("Saved")
    expect(visitor.locator("#event-title")).to_have_text("Rooftop jazz night (moved indoors)", timeout=LIVE_UPDATE_TIMEOUT_MS)
    assert visitor.evaluate("window.openedOnce === true")
    visitor_context.close()

    assert page_problems == []
