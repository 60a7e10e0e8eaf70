"""RSVPs from every front door (API, event page, mail links, Slack and Discord buttons, chat
commands), the organizer's counts, list and CSV, and the waitlist's timed offers, on the real
Temporal dev server and a real SMTP server."""
import csv
import html
import io
import json
import re
from datetime import timedelta
from urllib.parse import urlencode, urlsplit

import pytest
from sqlalchemy import select

from soonish.links import rsvp_path, rsvp_token
from soonish.models import Event, Rsvp, RsvpAnswer, Subscription, SubscriptionStatus, User, db, utcnow

from .api_helpers import announce, create_event, subscribe
from .chat_fakes import TEAM, signed_headers, slash_command
from .conftest import PASSWORD, csrf_token
from loopback.sinks import wait_until
from .test_bots_discord import MEMBER, discord_bot  # noqa: F401 (a fixture)

LINK = re.compile(r"http://soonish\.test(/\S+)")
HTMX = {"HX-Request": "true"}


@pytest.fixture
def person(app, make_user):
    """A user known by their address only (so organizers see it masked)."""

    def make(email: str) -> User:
        user = make_user(email)
        with app.app_context():
            db.session.get(User, user.id).display_name = ""
            db.session.commit()
        return user

    return make


def answers(app, event_id: int) -> dict[str, str]:
    """Each answer by the person's email (or chat name)."""
    with app.app_context():
        rows = db.session.query(Rsvp).filter_by(event_id=event_id).all()
        return {(r.user.email or r.user.display_name): r.answer.value for r in rows}


def put_answer(client, headers, event_id: int, answer: str):
    return client.put(f"/api/v1/events/{event_id}/rsvp", json={"answer": answer}, headers=headers)


def counts(client, organizer, event_id: int) -> dict:
    return client.get(f"/api/v1/events/{event_id}", headers=organizer).get_json()["rsvp_counts"]


def links_in(mail) -> list[str]:
    return LINK.findall(mail.get_body(preferencelist=("plain",)).get_content())


def mail_with(smtp_sink, subject: str, to: str | None = None):
    def found():
        return next((m for m in smtp_sink.messages if subject in m["Subject"]
                     and (to is None or m["X-Envelope-To"] == to)), None)

    wait_until(lambda: found() is not None, 30, message=f"the mail “{subject}”")
    return found()


def signed_in(app, user: User):
    """A fresh browser with ``user`` signed in through the login form."""
    browser = app.test_client()
    response = browser.post("/login", data={"email": user.email, "password": PASSWORD,
                                            "csrf_token": csrf_token(browser, "/login")})
    assert response.status_code == 302
    return browser


def test_api_answers_counts_and_the_organizers_list(app, client, person, bearer, organizer, worker):
    event = create_event(client, organizer, title="Launch party")
    assert event["rsvp_enabled"] is True
    ann, bob, cy = (bearer(person(f"{name}@example.com")) for name in ("ann", "bob", "cy"))
    subscribe(client, cy, event["id"])  # follows, hasn't answered

    answered = put_answer(client, ann, event["id"], "going")
    assert answered.status_code == 200 and answered.get_json()["answer"] == "going"
    assert put_answer(client, bob, event["id"], "maybe").status_code == 200
    assert put_answer(client, bob, event["id"], "no").get_json()["answer"] == "no"  # changed their mind

    assert counts(client, organizer, event["id"]) == {
        "going": 1, "confirmed": 0, "maybe": 0, "no": 1, "waitlisted": 0, "no_answer": 1, "capacity": None,
        "places_held": 0, "places_left": None,
    }
    # Only the organizer sees the counts and the list.
    assert client.get(f"/api/v1/events/{event['id']}", headers=ann).get_json()["rsvp_counts"] is None
    assert client.get(f"/api/v1/events/{event['id']}/rsvps", headers=ann).status_code == 403
    listing = client.get(f"/api/v1/events/{event['id']}/rsvps", headers=organizer).get_json()
    assert [(row["follower"], row["answer"], row["answer_label"]) for row in listing["items"]] == [
        ("a•••@example.com", "going", "Going"), ("b•••@example.com", "no", "Can't go"),
    ]
    assert listing["counts"]["going"] == 1

    bad = put_answer(client, ann, event["id"], "perhaps")
    assert bad.status_code == 422 and "answer" in bad.get_json()["error"]["fields"]


def test_the_organizers_list_pages_and_names_each_answer_by_id_and_value(
    app, client, person, bearer, host, organizer, worker,
):
    """Issue 22 (16, 12): the list, its page and its CSV carry each answer's id and the value the
    API takes beside its label; the API's list is paged like every other."""
    event = create_event(client, organizer, title="Launch party")
    for name, answer in (("ann", "going"), ("bob", "no"), ("cy", "maybe")):
        put_answer(client, bearer(person(f"{name}@example.com")), event["id"], answer)
    with app.app_context():
        ids = {r.user.email: r.id for r in db.session.query(Rsvp).filter_by(event_id=event["id"])}
    url = f"/api/v1/events/{event['id']}/rsvps"

    first = client.get(url, query_string={"limit": 2}, headers=organizer)
    assert first.status_code == 200 and first.get_json()["next_cursor"] and 'rel="next"' in first.headers["Link"]
    assert first.get_json()["counts"]["going"] == 1
    second = client.get(url, query_string={"limit": 2, "cursor": first.get_json()["next_cursor"]}, headers=organizer)
    assert second.status_code == 200 and second.get_json()["next_cursor"] is None and "Link" not in second.headers
    assert second.get_json()["counts"] is None  # counted once, on the first page
    items = first.get_json()["items"] + second.get_json()["items"]
    assert [(row["id"], row["answer"], row["answer_label"]) for row in items] == [
        (ids["ann@example.com"], "going", "Going"), (ids["bob@example.com"], "no", "Can't go"),
        (ids["cy@example.com"], "maybe", "Maybe"),
    ]
    for bad in ({"limit": -1}, {"limit": 0}, {"limit": 201}, {"cursor": "nonsense"}):
        refused = client.get(url, query_string=bad, headers=organizer)
        assert refused.status_code == 422 and list(refused.get_json()["error"]["fields"]) == list(bad), bad
    spec = client.get("/api/v1/openapi.json").get_json()
    limit = next(p for p in spec["paths"]["/api/v1/events/{event_id}/rsvps"]["get"]["parameters"] if p["name"] == "limit")
    assert (limit["schema"]["minimum"], limit["schema"]["maximum"]) == (1, 200)
    assert {"id", "answer", "answer_label"} <= set(spec["components"]["schemas"]["RsvpRowOut"]["properties"])

    organizer_browser = signed_in(app, host)
    rows = list(csv.reader(io.StringIO(organizer_browser.get(f"/events/{event['id']}/rsvps.csv").get_data(as_text=True))))
    assert [(int(r[0]), r[2], r[3]) for r in rows[1:]] == [
        (ids["ann@example.com"], "going", "Going"), (ids["cy@example.com"], "maybe", "Maybe"),
        (ids["bob@example.com"], "no", "Can't go"),
    ]
    page = html.unescape(organizer_browser.get(f"/events/{event['id']}/rsvps").get_data(as_text=True))
    assert f'<tr id="rsvp-{ids["bob@example.com"]}"><td>b•••@example.com</td><td data-answer="no">Can\'t go</td>' in page


def test_answers_close_on_cancelled_and_past_events(app, client, person, bearer, organizer, worker):
    guest = bearer(person("guest@example.com"))
    past = create_event(client, organizer, title="Yesterday")
    with app.app_context():
        db.session.get(Event, past["id"]).starts_at = utcnow() - timedelta(hours=1)
        db.session.commit()
    refused = put_answer(client, guest, past["id"], "going")
    assert refused.status_code == 409 and "started or is over" in refused.get_json()["error"]["message"]

    cancelled = create_event(client, organizer, title="Called off")
    assert client.post(f"/api/v1/events/{cancelled['id']}/cancel", headers=organizer).status_code == 200
    refused = put_answer(client, guest, cancelled["id"], "maybe")
    assert refused.status_code == 409 and "cancelled" in refused.get_json()["error"]["message"]
    assert answers(app, past["id"]) == {} and answers(app, cancelled["id"]) == {}


def test_capacity_must_be_at_least_one(client, organizer, worker):
    event = create_event(client, organizer)
    for bad in (0, -3, "ten", 1.5):
        response = client.put(f"/api/v1/events/{event['id']}/rsvp-settings", json={"capacity": bad}, headers=organizer)
        assert response.status_code == 422 and "capacity" in response.get_json()["error"]["fields"], bad
    ok = client.put(f"/api/v1/events/{event['id']}/rsvp-settings", json={"capacity": 20}, headers=organizer)
    assert ok.status_code == 200 and ok.get_json() == {"rsvp_enabled": True, "capacity": 20}


def test_answer_on_the_event_page_and_the_organizer_sees_the_list(app, client, person, host, organizer, login, worker):
    event = create_event(client, organizer, title="Picnic")
    page = f"/e/{event['slug']}"
    login(person("guest@example.com"))
    html = client.get(page).get_data(as_text=True)
    assert 'id="rsvp"' in html and 'data-count="going">0' in html

    box = client.post(f"/e/{event['slug']}/rsvp", data={"answer": "going", "csrf_token": csrf_token(client, page)},
                      headers=HTMX)
    assert box.status_code == 200
    text = box.get_data(as_text=True)
    assert 'data-count="going">1' in text and 'data-my-answer="going"' in text
    # The box polls itself: nothing changed, nothing sent.
    state = re.search(r"since=([0-9a-f]+)", text).group(1)
    assert client.get(f"/e/{event['slug']}/rsvp?since={state}", headers=HTMX).status_code == 204

    wrong = client.post(f"/e/{event['slug']}/rsvp", data={"answer": "yes!", "csrf_token": csrf_token(client, page)},
                        headers=HTMX)
    assert wrong.status_code == 422 and "Answer going, maybe or no." in wrong.get_data(as_text=True)

    organizer_browser = signed_in(app, host)
    panel = organizer_browser.get(page).get_data(as_text=True)
    assert 'data-count="no_answer">0' in panel and "rsvps.csv" in panel
    roster = organizer_browser.get(f"/events/{event['id']}/rsvps").get_data(as_text=True)
    assert "g•••@example.com" in roster and "guest@example.com" not in roster
    exported = organizer_browser.get(f"/events/{event['id']}/rsvps.csv")
    assert exported.mimetype == "text/csv"
    rows = list(csv.reader(io.StringIO(exported.get_data(as_text=True))))
    assert rows[0] == ["id", "follower", "answer", "answer_label", "answered_at"]
    assert rows[1][1:4] == ["g•••@example.com", "going", "Going"]
    assert client.get(f"/events/{event['id']}/rsvps.csv").status_code == 403  # the guest


def test_mail_links_answer_only_on_post_and_going_makes_a_follower(app, client, organizer, worker, smtp_sink):
    event = create_event(client, organizer, title="Book club")
    page = f"/e/{event['slug']}"
    client.post(f"{page}/subscribe", data={"email": "reader@example.com", "csrf_token": csrf_token(client, page)})
    confirm_mail = smtp_sink.wait_for(1)[0]
    going = next(p for p in links_in(confirm_mail) if p.startswith("/r/") and p.endswith("answer=going"))

    # Opening the link (a mail scanner does) only asks.
    opened = client.get(going)
    assert opened.status_code == 200 and "Are you coming" in opened.get_data(as_text=True)
    assert answers(app, event["id"]) == {}
    with app.app_context():
        assert db.session.query(Subscription).one().status == SubscriptionStatus.PENDING

    # The button answers, from any browser: the link itself went to the address.
    browser = app.test_client()
    path = urlsplit(going).path
    answered = browser.post(path, data={"answer": "going", "csrf_token": csrf_token(browser, going)})
    assert answered.status_code == 200 and "down as “Going”" in answered.get_data(as_text=True)
    assert answers(app, event["id"]) == {"reader@example.com": "going"}
    with app.app_context():
        assert db.session.query(Subscription).one().status == SubscriptionStatus.ACTIVE
    mail_with(smtp_sink, "You're following Book club")

    # Every mail about the event carries the links; "maybe" from an announcement changes the answer.
    announce(client, organizer, event["id"], "Doors at 7")
    maybe = next(p for p in links_in(mail_with(smtp_sink, "Doors at 7")) if p.endswith("answer=maybe"))
    assert browser.post(urlsplit(maybe).path, data={"answer": "maybe", "csrf_token": csrf_token(browser, maybe)}).status_code == 200
    assert answers(app, event["id"]) == {"reader@example.com": "maybe"}

    forged = client.get("/r/not-a-token?answer=going")
    assert forged.status_code == 404 and "not valid" in forged.get_data(as_text=True)


def answer_link(app, event_id: int, email: str, still_coming: bool = False) -> str:
    """The path of the one-tap answer page a mail to ``email`` links to (without its ?answer=)."""
    with app.app_context():
        user_id = db.session.scalar(select(User.id).where(User.email == email))
        path = rsvp_path(rsvp_token(app.config["SECRET_KEY"], event_id, user_id, email))
    return f"{path}/still-coming" if still_coming else path


def test_the_pressed_button_wins_over_the_answer_in_the_link(app, client, person, bearer, organizer, worker):
    """Issue 22 (4): the page posts back to its own URL, which still carries the link's ?answer=."""
    event = create_event(client, organizer, title="Picnic")
    person("reader@example.com")  # mail links name an account: the reader's
    going_link = answer_link(app, event["id"], "reader@example.com") + "?answer=going"
    opened = client.get(going_link).get_data(as_text=True)
    assert re.search(r'<button class="button" type="submit" name="answer" value="going"', opened)  # preselected

    pressed = client.post(going_link, data={"answer": "no", "csrf_token": csrf_token(client, going_link)})
    assert pressed.status_code == 200 and "down as “Can't go”" in html.unescape(pressed.get_data(as_text=True))
    assert answers(app, event["id"]) == {"reader@example.com": "no"}
    # No button pressed is no answer, whatever the link said.
    unpressed = client.post(going_link, data={"csrf_token": csrf_token(client, going_link)})
    assert unpressed.status_code == 422 and "Answer going, maybe or no." in unpressed.get_data(as_text=True)



def test_cant_make_it_pressed_on_the_yes_links_page_frees_the_place(app, client, person, bearer, organizer, worker):
    """Issue 22 (4), the still-coming check: "Yes" opened, "Can't make it" pressed."""
    checked = create_event(client, organizer, title="Tasting", still_coming_check=True)
    client.put(f"/api/v1/events/{checked['id']}/rsvp-settings", json={"capacity": 1}, headers=organizer)
    ann, cy = bearer(person("ann@example.com")), bearer(person("cy@example.com"))
    assert put_answer(client, ann, checked["id"], "going").get_json()["answer"] == "going"
    assert put_answer(client, cy, checked["id"], "going").get_json()["answer"] == "waitlisted"
    yes_link = answer_link(app, checked["id"], "ann@example.com", still_coming=True) + "?answer=confirm"
    pressed = client.post(yes_link, data={"answer": "no", "csrf_token": csrf_token(client, yes_link)})
    assert pressed.status_code == 200 and "down as “Can't go”" in html.unescape(pressed.get_data(as_text=True))
    assert answers(app, checked["id"]) == {"ann@example.com": "no", "cy@example.com": "waitlisted"}
    assert counts(client, organizer, checked["id"])["confirmed"] == 0
    with app.app_context():
        offered = db.session.query(Rsvp).filter_by(event_id=checked["id"], answer=RsvpAnswer.WAITLISTED).one()
        assert offered.offer_expires_at is not None  # the freed place is held for Cy


@pytest.fixture
def quick_offers(app_config):
    app_config["RSVP_OFFER_SECONDS"] = 8


def test_a_full_event_waitlists_and_offers_each_freed_place_in_turn(
    quick_offers, app, client, person, bearer, organizer, worker, smtp_sink,
):
    event = create_event(client, organizer, title="Tasting")
    client.put(f"/api/v1/events/{event['id']}/rsvp-settings", json={"capacity": 1}, headers=organizer)
    ann, bob, cy = (bearer(person(f"{name}@example.com")) for name in ("ann", "bob", "cy"))
    assert put_answer(client, ann, event["id"], "going").get_json()["answer"] == "going"
    assert put_answer(client, bob, event["id"], "going").get_json()["answer"] == "waitlisted"
    assert put_answer(client, cy, event["id"], "going").get_json()["answer"] == "waitlisted"
    assert counts(client, organizer, event["id"])["places_left"] == 0

    # Ann can't come: the place is offered to Bob, first in line, who takes it.
    put_answer(client, ann, event["id"], "no")
    offer = mail_with(smtp_sink, "A place opened up: Tasting", to="bob@example.com")
    accept = next(p for p in links_in(offer) if p.startswith("/r/offer/"))
    assert "held for you" in client.get(accept).get_data(as_text=True)
    assert answers(app, event["id"])["bob@example.com"] == "waitlisted"  # opening changed nothing
    taken = client.post(accept, data={"csrf_token": csrf_token(client, accept)})
    assert taken.status_code == 200 and "You're going" in taken.get_data(as_text=True)
    assert answers(app, event["id"])["bob@example.com"] == "going"

    # Bob drops out: Cy is offered the place, lets the offer run out, and it passes on.
    put_answer(client, bob, event["id"], "maybe")
    offer = mail_with(smtp_sink, "A place opened up: Tasting", to="cy@example.com")
    accept = next(p for p in links_in(offer) if p.startswith("/r/offer/"))
    wait_until(lambda: answers(app, event["id"])["cy@example.com"] == "maybe", 40, message="the offer to expire")
    late = client.post(accept, data={"csrf_token": csrf_token(client, accept)})
    assert late.status_code == 409 and "expired" in late.get_data(as_text=True)
    assert counts(client, organizer, event["id"]) == {
        "going": 0, "confirmed": 0, "maybe": 2, "no": 1, "waitlisted": 0, "no_answer": 0, "capacity": 1,
        "places_held": 0, "places_left": 1,
    }


def test_a_place_held_for_the_waitlist_is_not_free(app, client, person, bearer, host, organizer, worker):
    """Issue 22 (13): the place offered to the first in line shows as held, not left, on the
    page, in the API and to the next "going"."""
    event = create_event(client, organizer, title="Tasting")
    client.put(f"/api/v1/events/{event['id']}/rsvp-settings", json={"capacity": 2}, headers=organizer)
    ann, bob, cy, dee = (bearer(person(f"{name}@example.com")) for name in ("ann", "bob", "cy", "dee"))
    for headers, expected in ((ann, "going"), (bob, "going"), (cy, "waitlisted")):
        assert put_answer(client, headers, event["id"], "going").get_json()["answer"] == expected
    put_answer(client, bob, event["id"], "no")  # the place goes to Cy, held until she takes it

    held = {"going": 1, "waitlisted": 1, "capacity": 2, "places_held": 1, "places_left": 0}
    assert {k: counts(client, organizer, event["id"])[k] for k in held} == held
    listing = client.get(f"/api/v1/events/{event['id']}/rsvps", headers=organizer).get_json()
    assert {k: listing["counts"][k] for k in held} == held
    assert put_answer(client, dee, event["id"], "going").get_json()["answer"] == "waitlisted"
    box = client.get(f"/e/{event['slug']}/rsvp").get_data(as_text=True)  # what a visitor sees
    assert 'data-count="going">1 / 2<' in box
    assert 'data-count="held">1 place held for the waitlist' in box and "Full:" in box
    roster = signed_in(app, host).get(f"/events/{event['id']}/rsvps").get_data(as_text=True)
    assert "1 going of 2 places (1 held for the waitlist)" in roster

    # Cy takes it: going, nothing held, still full.
    assert put_answer(client, cy, event["id"], "going").get_json()["answer"] == "going"
    taken = {"going": 2, "waitlisted": 1, "capacity": 2, "places_held": 0, "places_left": 0}
    assert {k: counts(client, organizer, event["id"])[k] for k in taken} == taken
    assert 'data-count="held"' not in client.get(f"/events/{event['id']}/rsvp").get_data(as_text=True)


def test_slack_buttons_under_a_dm_and_the_rsvp_command(chat_config, app, client, organizer, worker, fake_slack):
    event = create_event(client, organizer, title="Launch party")
    body, headers = slash_command(fake_slack, f"subscribe {event['slug']}")
    client.post("/slack/events", data=body, headers=headers)
    # Slack is answered first and the command runs after: announce once Alice follows.
    assert "You're following Launch party" in fake_slack.wait_for_response(1)["text"]
    announce(client, organizer, event["id"], "Doors at 7")

    def announcement():
        return next((p for p in fake_slack.posted if p["channel"] == "U0ALICE" and "Doors at 7" in p["text"]), None)

    wait_until(lambda: announcement() is not None, 60, message="the announcement in Alice's DM")
    blocks = announcement()["blocks"]
    blocks = json.loads(blocks) if isinstance(blocks, str) else blocks
    buttons = next(b["elements"] for b in blocks if b["type"] == "actions")
    assert [b["text"]["text"] for b in buttons] == ["Going", "Maybe", "Can't go"]
    going = buttons[0]

    payload = {
        "type": "block_actions", "team": {"id": TEAM}, "user": {"id": "U0ALICE", "name": "alice"},
        "channel": {"id": "D0ALICE", "name": "directmessage"}, "response_url": fake_slack.response_url(),
        "actions": [{"action_id": going["action_id"], "value": going["value"], "type": "button"}],
        "trigger_id": "1.2.3", "api_app_id": "A0APP",
    }
    pressed = urlencode({"payload": json.dumps(payload)})
    assert client.post("/slack/events", data=pressed, headers=signed_headers(pressed)).status_code == 200
    assert "You're going to Launch party" in fake_slack.wait_for_response(2)["text"]
    assert list(answers(app, event["id"]).values()) == ["going"]

    body, headers = slash_command(fake_slack, f"rsvp {event['slug']} maybe")
    client.post("/slack/events", data=body, headers=headers)
    assert "You're a maybe for Launch party" in fake_slack.wait_for_response(3)["text"]
    body, headers = slash_command(fake_slack, "list")
    client.post("/slack/events", data=body, headers=headers)
    assert "Your answer: Maybe" in json.dumps(fake_slack.wait_for_response(4)["blocks"])
    body, headers = slash_command(fake_slack, f"rsvp {event['slug']} perhaps")
    client.post("/slack/events", data=body, headers=headers)
    assert "Answer going, maybe or no." in fake_slack.wait_for_response(5)["text"]
    assert list(answers(app, event["id"]).values()) == ["maybe"]


def test_discord_buttons_under_a_dm(discord_bot, app, client, organizer, worker, fake_discord):  # noqa: F811
    event = create_event(client, organizer, title="Launch party")
    fake_discord.run_command("subscribe", MEMBER, event=event["slug"])
    announce(client, organizer, event["id"], "Doors at 7")

    def announcement():
        return next((m for m in fake_discord.messages if "Doors at 7" in m["content"]), None)

    wait_until(lambda: announcement() is not None, 60, message="the announcement in the member's DM")
    buttons = announcement()["components"][0]["components"]
    assert [b["label"] for b in buttons] == ["Going", "Maybe", "Can't go"]

    answer = fake_discord.press_button(buttons[2]["custom_id"], MEMBER)
    assert answer["flags"] & 64 and "You can't go to Launch party" in answer["content"]
    assert list(answers(app, event["id"]).values()) == ["no"]
    answer = fake_discord.press_button(buttons[0]["custom_id"], MEMBER)
    assert "You're going to Launch party" in answer["content"]
    assert list(answers(app, event["id"]).values()) == ["going"]
