"""Issue 13 in a real browser: a follower answers "Going" on the event page and the count moves
for them at once and, without a reload, on the organizer's open tab."""
from playwright.sync_api import Page, expect

from ..api_helpers import create_event as create_event_by_api
from loopback.sinks import wait_until
from ..test_rsvp import answer_link
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


def test_the_button_pressed_on_a_mail_links_page_is_the_answer(
    page: Page, app, client, make_user, bearer, live_server, smtp_sink, screenshot, page_problems,
):
    """Issue 22 (4): a mail's "Going" link, then "Can't go" pressed, is "Can't go"; the still-coming
    check's "Yes" link, then "Can't make it" pressed, frees the place for the waitlist."""
    organizer = bearer(make_user("host@example.com"))
    event = create_event_by_api(client, organizer, title="Picnic")
    make_user("reader@example.com")  # mail links name an account: the reader's
    page.goto(live_server + answer_link(app, event["id"], "reader@example.com") + "?answer=going")
    expect(page.get_by_role("button", name="Going")).to_be_focused()  # the link's answer, preselected
    page.get_by_role("button", name="Can't go").click()
    expect(page.get_by_role("status")).to_have_text("Thanks! You're down as “Can't go”.")
    expect(page.locator("[data-current-answer]")).to_have_text("Can't go")
    screenshot(page, "rsvp-link-pressed-cant-go")

    checked = create_event_by_api(client, organizer, title="Tasting", still_coming_check=True)
    client.put(f"/api/v1/events/{checked['id']}/rsvp-settings", json={"capacity": 1}, headers=organizer)
    for name, expected in (("ann", "going"), ("cy", "waitlisted")):
        answered = client.put(f"/api/v1/events/{checked['id']}/rsvp", json={"answer": "going"},
                              headers=bearer(make_user(f"{name}@example.com")))
        assert answered.get_json()["answer"] == expected
    page.goto(live_server + answer_link(app, checked["id"], "ann@example.com", still_coming=True) + "?answer=confirm")
    expect(page.get_by_role("button", name="Yes, still coming")).to_be_focused()
    page.get_by_role("button", name="Can't make it").click()
    expect(page.get_by_role("status")).to_have_text("Thanks! You're down as “Can't go”.")
    # The freed place is offered to Cy, first in line.
    wait_until(lambda: any("A place opened up: Tasting" in m["Subject"] for m in smtp_sink.to("cy@example.com")),
               30, message="the offer to the next in line")
    assert page_problems == []


def test_a_place_held_for_the_waitlist_shows_as_held_and_full(
    page: Page, client, make_user, bearer, live_server, screenshot, page_problems,
):
    """Issue 22 (13): the place offered to the first in line is held, not free."""
    organizer = bearer(make_user("host@example.com"))
    event = create_event_by_api(client, organizer, title="Tasting")
    client.put(f"/api/v1/events/{event['id']}/rsvp-settings", json={"capacity": 2}, headers=organizer)
    people = {name: bearer(make_user(f"{name}@example.com")) for name in ("ann", "bob", "cy")}
    for name in people:
        client.put(f"/api/v1/events/{event['id']}/rsvp", json={"answer": "going"}, headers=people[name])
    client.put(f"/api/v1/events/{event['id']}/rsvp", json={"answer": "no"}, headers=people["bob"])

    page.goto(f"{live_server}/e/{event['slug']}")
    box = page.locator("#rsvp")
    expect(box.locator('[data-count="going"]')).to_have_text("1 / 2")
    expect(box.locator('[data-count="held"]')).to_have_text("1 place held for the waitlist (offered to the next in line)")
    expect(box).to_contain_text("Full: “Going” puts you on the waitlist")
    screenshot(page, "event-page-rsvp-place-held")
    assert page_problems == []
