"""Issue 24 in a real browser: "I'm going" is one act. An anonymous visitor on a phone gives a
name and an email, confirms from the mail (a real SMTP server) and is then counted going,
following, and asked "still coming?" at its time (real Temporal); a signed-in person's one tap
does the same."""
import re
from datetime import timedelta

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import select

from soonish.models import Rsvp, Subscription, User, db, utcnow

from ..api_helpers import create_event as create_event_by_api
from loopback.sinks import wait_until
from ..conftest import PASSWORD
from ..test_covers import picture, upload
from .conftest import PHONE, SCREENSHOTS
from .test_follow_flow import CONFIRM_LINK, mail_to

GUEST = "gus@example.com"
CHECK_SUBJECT = "Still coming?"


@pytest.fixture
def short_lead(app_config):
    """Reminder schedules fire 3 s ahead instead of 2 minutes, so the test sees the check fire."""
    app_config["REMINDER_LEAD_SECONDS"] = 3


def checked_event(client, headers, title: str) -> dict:
    """An event asking "still coming?" an hour ahead, that check due in an hour (see check_due_soon)."""
    starts_at = (utcnow() + timedelta(hours=2)).replace(microsecond=0)
    return create_event_by_api(client, headers, title=title, starts_at=starts_at.isoformat(),
                               still_coming_check=True, still_coming_hours=1)


def check_due_soon(client, headers, event: dict) -> None:
    """Move the event so its check is due in 10 s, once someone is going: a check due a fixed
    time after the event was made would either wait out the slowest machine's browser steps
    (a minute per test) or race them."""
    starts_at = (utcnow() + timedelta(hours=1, seconds=10)).replace(microsecond=0)
    moved = client.patch(f"/api/v1/events/{event['id']}", json={"starts_at": starts_at.isoformat()}, headers=headers)
    assert moved.status_code == 200, moved.get_json()


def going_and_following(app, event_id: int, email: str) -> tuple[str, str]:
    with app.app_context():
        user = db.session.scalar(select(User).where(User.email == email))
        rsvp = db.session.scalar(select(Rsvp).where(Rsvp.event_id == event_id, Rsvp.user_id == user.id))
        follow = db.session.scalar(select(Subscription).where(Subscription.event_id == event_id,
                                                              Subscription.user_id == user.id))
        return (rsvp.answer.value if rsvp else None), (follow.status.value if follow else None)


def still_coming_to(smtp_sink, address: str) -> list:
    return [m for m in smtp_sink.to(address) if m["Subject"].startswith(CHECK_SUBJECT)]


def test_a_visitor_on_a_phone_says_im_going_with_a_name_and_an_email(
    short_lead, page: Page, browser, app, client, host, organizer, live_server, smtp_sink, screenshot, page_problems,
):
    event = checked_event(client, organizer, title="Rooftop jazz night")
    context = browser.new_context(viewport=PHONE, has_touch=True, is_mobile=True, timezone_id="Europe/Paris", locale="en-GB")
    visitor = context.new_page()
    visitor.goto(f"{live_server}/e/{event['slug']}")
    box = visitor.locator("#subscribe")
    expect(box.get_by_role("heading")).to_have_text("Are you going?")
    # The phone's sticky bar leads to the form.
    expect(visitor.locator(".follow-bar")).to_have_text("I'm going")
    # ... and steps aside once the boxes are on screen: it covers none of their links or buttons.
    box.scroll_into_view_if_needed()
    expect(visitor.locator(".follow-bar")).to_be_hidden()

    # Two fields and three taps before the mail: name, email, "I'm going".
    box.get_by_label("Your name").tap()
    box.get_by_label("Your name").fill("Gus Guest")
    box.get_by_label("Your email").tap()
    box.get_by_label("Your email").fill(GUEST)
    box.get_by_role("button", name="I'm going").tap()
    expect(visitor.get_by_role("status").first).to_contain_text(f"open the link we just sent to {GUEST} to confirm")
    expect(box.get_by_role("heading")).to_have_text("Check your inbox")
    assert going_and_following(app, event["id"], GUEST) == (None, "pending")  # nothing before the link
    screenshot(visitor, "going-check-your-inbox")

    mail = mail_to(smtp_sink, GUEST, "Rooftop jazz night")
    visitor.goto(live_server + CONFIRM_LINK.search(mail.get_body(preferencelist=("plain",)).get_content()).group(1))
    expect(visitor.get_by_role("heading", level=1)).to_have_text("You're going to “Rooftop jazz night”")
    screenshot(visitor, "going-confirmed")
    assert going_and_following(app, event["id"], GUEST) == ("going", "active")

    visitor.goto(f"{live_server}/e/{event['slug']}")
    expect(visitor.locator('#rsvp [data-count="going"]')).to_have_text("1")
    expect(visitor.locator("#subscribe .following-badge")).to_have_text("Going")
    expect(visitor.locator(".follow-bar")).to_have_count(0)
    with app.app_context():
        assert db.session.scalar(select(User.display_name).where(User.email == GUEST)) == "Gus Guest"

    # Going follows: the still-coming check reaches them at its time.
    check_due_soon(client, organizer, event)
    wait_until(lambda: still_coming_to(smtp_sink, GUEST), 90, message="the still-coming check")
    context.close()
    assert page_problems == []


def test_a_signed_in_persons_one_tap_is_going_and_following(
    short_lead, page: Page, app, client, make_user, bearer, live_server, smtp_sink, screenshot, page_problems,
):
    organizer = bearer(make_user("host@example.com"))
    event = checked_event(client, organizer, title="Tasting")
    make_user("mia@example.com")
    page.goto(f"{live_server}/login")
    page.get_by_label("Email").fill("mia@example.com")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.goto(f"{live_server}/e/{event['slug']}")
    box = page.locator("#rsvp")
    box.get_by_label("Show my name to others going").check()
    box.get_by_role("button", name="I'm going").click()  # the one tap
    expect(box.locator('[data-count="going"]')).to_have_text("1")
    expect(box.get_by_role("button", name="I'm going")).to_have_attribute("aria-pressed", "true")
    expect(box.locator(".guest-list")).to_contain_text("Test")  # make_user's name, shown with consent
    assert going_and_following(app, event["id"], "mia@example.com") == ("going", "active")
    page.reload()
    expect(page.locator("#subscribe").get_by_role("heading", level=2)).to_have_text("You're following this event")
    screenshot(page, "going-signed-in")

    check_due_soon(client, organizer, event)
    wait_until(lambda: still_coming_to(smtp_sink, "mia@example.com"), 90, message="the still-coming check")
    # Can't go any more: no longer going, still following.
    box.get_by_role("button", name="Can't go").click()
    expect(box.locator('[data-count="going"]')).to_have_text("0")
    assert going_and_following(app, event["id"], "mia@example.com") == ("no", "active")
    assert page_problems == []


def test_the_page_has_a_face_with_or_without_a_cover_and_no_axe_violations(
    page: Page, browser, app, client, host, organizer, login, live_server, screenshot, axe_violations, page_problems,
):
    """The cover leads the page (a visual made from the event without one), the host's avatar
    and bio beside their name, those going who agreed to it, and the share card drawn over it."""
    with app.app_context():
        user = db.session.get(User, host.id)
        user.display_name, user.bio = "Ada Host", "Runs the rooftop jazz evenings in Lyon since 2019."
        db.session.commit()
    event = create_event_by_api(client, organizer, title="Rooftop jazz night", location="Terrasse du Marché, Lyon",
                                description="Three sets, one sunset.")
    other = create_event_by_api(client, organizer, title="Poetry slam")
    url = f"{live_server}/e/{event['slug']}"
    page.goto(url)
    hero = page.locator(".event-hero img")
    assert hero.get_attribute("src").startswith("data:image/svg+xml")  # made here, per event
    visual = hero.get_attribute("src")
    page.goto(f"{live_server}/e/{other['slug']}")
    assert page.locator(".event-hero img").get_attribute("src") != visual  # not one flat picture for all
    page.goto(url)
    expect(page.locator(".host-line")).to_contain_text("Runs the rooftop jazz evenings")
    assert axe_violations(page) == []
    screenshot(page, "event-page-without-cover")

    login(host)
    upload(client, event, picture("JPEG"))
    page.goto(url)
    expect(page.locator(".event-hero img")).to_have_attribute("src", re.compile(r"/cover\.jpg\?v="))
    assert axe_violations(page) == []
    screenshot(page, "event-page-with-cover")
    # The cards, as a crawler fetches them (in a tab of their own: Chromium's image viewer styles
    # itself inline, which the app's CSP refuses, and that is no problem of the page).
    viewer = browser.new_page(viewport={"width": 1200, "height": 630})
    for slug, name in ((event["slug"], "share-card-with-cover"), (other["slug"], "share-card-without-cover")):
        page.goto(f"{live_server}/e/{slug}")
        card = page.locator('meta[property="og:image"]').get_attribute("content")
        viewer.goto(card.replace("http://soonish.test", live_server))
        viewer.screenshot(path=SCREENSHOTS / f"{name}.png")
    viewer.close()

    page.goto(f"{live_server}/hosts/{host.id}")
    expect(page.locator(".host-bio")).to_have_text("Runs the rooftop jazz evenings in Lyon since 2019.")
    assert axe_violations(page) == []
    assert page_problems == []
