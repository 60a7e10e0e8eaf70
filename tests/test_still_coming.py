"""The organizer's "Still coming?" check, on the real Temporal dev server and a real SMTP server:
a reminder of its own kind, sent once to those going at its time, following moves and
cancellation; "yes" confirms, "can't make it" (mail link, Slack button, Discord component)
frees the place for the waitlist."""
import html
import json
from datetime import datetime, timedelta
from urllib.parse import urlsplit

import pytest
from sqlalchemy import select

from soonish.bots.core import Commands, Speaker
from soonish.links import rsvp_path, rsvp_token
from soonish.models import Delivery, Event, Notification, NotificationKind, User, db, utcnow

from .api_helpers import create_event, future_iso, subscribe
from .chat_fakes import TEAM, block_action, slash_command
from .conftest import csrf_token
from loopback.sinks import first_seen, wait_until
from .temporal_helpers import wait_for_schedules
from .test_bots_discord import MEMBER, discord_bot  # noqa: F401 (a fixture)
from .test_rsvp import answers, counts, links_in, mail_with, person, put_answer, signed_in  # noqa: F401 (person: a fixture)

CHECK_SUBJECT = "Still coming?"


@pytest.fixture
def short_lead(app_config):
    """Reminder schedules fire 3 s ahead instead of 2 minutes, so a test sees a real one fire."""
    app_config["REMINDER_LEAD_SECONDS"] = 3


def checked_event(client, organizer, due_in: float, **fields) -> dict:  # noqa: F811
    """An event asking the still-coming check an hour ahead, that check due in ``due_in`` seconds."""
    starts_at = (utcnow() + timedelta(hours=1, seconds=due_in)).replace(microsecond=0)
    body = {"title": "Tasting", "starts_at": starts_at.isoformat(), "still_coming_check": True, "still_coming_hours": 1}
    return create_event(client, organizer, **{**body, **fields})


def check_due(event: dict) -> datetime:
    return datetime.fromisoformat(event["starts_at"]) - timedelta(hours=1)


def check_mails(smtp_sink, title: str) -> list:
    return [m for m in smtp_sink.messages if m["Subject"].startswith(f"{CHECK_SUBJECT} {title}")]


def going(client, bearer, person, event_id: int, *names: str) -> dict[str, dict]:  # noqa: F811
    """Each person follows the event (mail) and answers going; their API headers by name."""
    people = {}
    for name in names:
        headers = bearer(person(f"{name}@example.com"))
        subscribe(client, headers, event_id)
        put_answer(client, headers, event_id, "going")
        people[name] = headers
    return people


@pytest.mark.slow
def test_the_check_goes_once_to_those_going_at_its_time_follows_a_move_skips_a_cancel_and_answers_by_mail(
    short_lead, app, client, person, bearer, host, organizer, worker, smtp_sink,  # noqa: F811
):
    """Three events on one timeline, their checks due about 30 s on: one moved 12 s later
    before its check, one cancelled before it, and one checked at the time it was made with."""
    moved = checked_event(client, organizer, due_in=20, title="Moved tasting")
    cancelled = checked_event(client, organizer, due_in=20, title="Called-off tasting")
    going(client, bearer, person, moved["id"], "gil")
    going(client, bearer, person, cancelled["id"], "hal")
    new_start = datetime.fromisoformat(moved["starts_at"]) + timedelta(seconds=12)
    patched = client.patch(f"/api/v1/events/{moved['id']}", json={"starts_at": new_start.isoformat()}, headers=organizer)
    assert patched.status_code == 200
    assert client.post(f"/api/v1/events/{cancelled['id']}/cancel", headers=organizer).status_code == 200
    old_due, new_due = check_due(moved), new_start - timedelta(hours=1)
    assert utcnow() < old_due, "the setup took longer than the check's lead: the test proves nothing"

    event = checked_event(client, organizer, due_in=25)
    assert (event["still_coming_check"], event["still_coming_hours"]) == (True, 1)
    client.put(f"/api/v1/events/{event['id']}/rsvp-settings", json={"capacity": 2}, headers=organizer)
    going(client, bearer, person, event["id"], "ann", "bob", "cy")  # cy: on the waitlist
    for name, answer in (("dee", "maybe"), ("eve", "no"), ("fay", None)):  # fay follows, never answered
        headers = bearer(person(f"{name}@example.com"))
        subscribe(client, headers, event["id"])
        if answer:
            put_answer(client, headers, event["id"], answer)
    assert answers(app, event["id"])["cy@example.com"] == "waitlisted"

    arrived = first_seen({"Tasting": lambda: len(check_mails(smtp_sink, "Tasting")) >= 2,
                          "Moved tasting": lambda: check_mails(smtp_sink, "Moved tasting")}, 90)
    for title, due in (("Tasting", check_due(event)), ("Moved tasting", new_due)):
        assert due - timedelta(seconds=1) <= arrived[title] <= due + timedelta(seconds=20), (title, due, arrived[title])
    last = max(arrived.values())
    wait_until(lambda: utcnow() > last + timedelta(seconds=8), 15, message="a while")
    # Once, to those going only: not maybe / no / waitlisted, nor a follower who never answered.
    assert sorted(m["X-Envelope-To"] for m in check_mails(smtp_sink, "Tasting")) == ["ann@example.com", "bob@example.com"]
    [moved_check] = check_mails(smtp_sink, "Moved tasting")
    assert moved_check["X-Envelope-To"] == "gil@example.com"
    assert check_mails(smtp_sink, "Called-off tasting") == []
    with app.app_context():
        [check] = db.session.query(Notification).filter_by(event_id=event["id"], kind=NotificationKind.STILL_COMING).all()
        assert check.dedupe_key.startswith(f"still-coming:{event['id']}:3600:")
        assert db.session.query(Delivery).filter_by(notification_id=check.id).count() == 2

    def link(to: str, answer: str) -> str:
        mail = next(m for m in check_mails(smtp_sink, "Tasting") if m["X-Envelope-To"] == to)
        return next(p for p in links_in(mail) if p.endswith(f"/still-coming?answer={answer}"))

    # Bob is still coming: the link's page asks, its button confirms.
    yes = link("bob@example.com", "confirm")
    opened = client.get(yes)
    assert opened.status_code == 200 and "Still coming to “Tasting”?" in opened.get_data(as_text=True)
    assert counts(client, organizer, event["id"])["confirmed"] == 0  # opening changed nothing
    confirmed = client.post(urlsplit(yes).path, data={"answer": "confirm", "csrf_token": csrf_token(client, yes)})
    assert confirmed.status_code == 200 and "still coming" in confirmed.get_data(as_text=True)

    # Ann can't make it: her place goes to Cy, first in line.
    no = link("ann@example.com", "no")
    assert "frees your place" in client.get(no).get_data(as_text=True)
    assert answers(app, event["id"])["ann@example.com"] == "going"
    dropped = client.post(urlsplit(no).path, data={"answer": "no", "csrf_token": csrf_token(client, no)})
    assert dropped.status_code == 200 and "down as “Can't go”" in html.unescape(dropped.get_data(as_text=True))
    mail_with(smtp_sink, "A place opened up: Tasting", to="cy@example.com")
    assert answers(app, event["id"])["ann@example.com"] == "no"
    assert {k: v for k, v in counts(client, organizer, event["id"]).items() if k in ("going", "confirmed", "no")} == {
        "going": 1, "confirmed": 1, "no": 2,
    }
    panel = signed_in(app, host).get(f"/e/{event['slug']}").get_data(as_text=True)
    assert 'data-count="confirmed">1' in panel


def test_the_settings_make_and_remove_the_checks_schedule(app, client, organizer, worker, harness, temporal_env):  # noqa: F811
    event = create_event(client, organizer, starts_at=future_iso(3))
    assert (event["still_coming_check"], event["still_coming_hours"]) == (False, 24)
    wait_for_schedules(harness, temporal_env, app, event["id"], set())
    turn = client.patch(f"/api/v1/events/{event['id']}", json={"still_coming_check": True}, headers=organizer)
    assert turn.status_code == 200 and turn.get_json()["still_coming_check"] is True
    wait_for_schedules(harness, temporal_env, app, event["id"], {-24 * 3600})
    client.patch(f"/api/v1/events/{event['id']}", json={"still_coming_hours": 2}, headers=organizer)
    wait_for_schedules(harness, temporal_env, app, event["id"], {-2 * 3600})
    client.patch(f"/api/v1/events/{event['id']}", json={"still_coming_check": False}, headers=organizer)
    wait_for_schedules(harness, temporal_env, app, event["id"], set())

    for bad in (0, 169, "24", 1.5, None):
        refused = client.patch(f"/api/v1/events/{event['id']}", json={"still_coming_hours": bad}, headers=organizer)
        assert refused.status_code == 422 and "still_coming_hours" in refused.get_json()["error"]["fields"], bad


def test_the_event_form_sets_the_check(app, client, host, login, worker):  # noqa: F811
    login(host)
    page = "/events/new"
    form = {"title": "Supper", "starts_at": (utcnow() + timedelta(days=2)).strftime("%Y-%m-%dT%H:%M"),
            "timezone": "UTC", "visibility": "public", "still_coming_check": "y", "still_coming_hours": "0",
            "csrf_token": csrf_token(client, page)}
    refused = client.post(page, data=form)
    assert "Ask from 1 to 168 hours" in refused.get_data(as_text=True)  # the form again, the message beside the field
    saved = client.post(page, data={**form, "still_coming_hours": "6"})
    assert saved.status_code == 302
    with app.app_context():
        event = db.session.query(Event).filter_by(title="Supper").one()
        assert (event.still_coming_check, event.still_coming_hours) == (True, 6)


def chat_check(posts, predicate):
    return next((p for p in posts if predicate(p)), None)


@pytest.mark.slow
def test_cant_make_it_from_a_slack_button_or_discord_components_frees_the_place(
    short_lead, discord_bot, app, client, person, bearer, organizer, worker, smtp_sink, fake_slack, fake_discord,  # noqa: F811
):
    """Two events on one timeline, their checks due 15 s on, each with one place and someone on
    the waitlist: Alice answers from Slack, the Discord member from Discord."""
    tasting = checked_event(client, organizer, due_in=15)
    supper = checked_event(client, organizer, due_in=15, title="Supper")
    for event in (tasting, supper):
        client.put(f"/api/v1/events/{event['id']}/rsvp-settings", json={"capacity": 1}, headers=organizer)
    body, headers = slash_command(fake_slack, f"subscribe {tasting['slug']}")
    client.post("/slack/events", data=body, headers=headers)
    assert "You're following Tasting" in fake_slack.wait_for_response(1)["text"]
    body, headers = slash_command(fake_slack, f"rsvp {tasting['slug']} going")
    client.post("/slack/events", data=body, headers=headers)
    assert "You're going to Tasting" in fake_slack.wait_for_response(2)["text"]
    going(client, bearer, person, tasting["id"], "cy")  # on the waitlist
    fake_discord.run_command("subscribe", MEMBER, event=supper["slug"])
    fake_discord.press_button(f"soonish:rsvp:{supper['id']}:going", MEMBER)
    going(client, bearer, person, supper["id"], "di")  # on the waitlist

    def slack_check():
        return chat_check(fake_slack.posted, lambda p: p["channel"] == "U0ALICE" and CHECK_SUBJECT in p["text"])

    def discord_check():
        return chat_check(fake_discord.messages, lambda m: CHECK_SUBJECT in m["content"])

    first_seen({"the check in Alice's Slack DM": slack_check, "the check in the member's Discord DM": discord_check}, 60)
    blocks = slack_check()["blocks"]
    blocks = json.loads(blocks) if isinstance(blocks, str) else blocks
    buttons = next(b["elements"] for b in blocks if b["type"] == "actions")
    assert [b["text"]["text"] for b in buttons] == ["Yes, still coming", "Can't make it"]

    body, headers = block_action(fake_slack, buttons[1], channel="D0ALICE")
    assert client.post("/slack/events", data=body, headers=headers).status_code == 200
    assert "You can't go to Tasting" in fake_slack.wait_for_response(3)["text"]
    mail_with(smtp_sink, "A place opened up: Tasting", to="cy@example.com")
    assert sorted(answers(app, tasting["id"]).values()) == ["no", "waitlisted"]  # Cy's place is offered, held

    buttons = discord_check()["components"][0]["components"]
    assert [b["label"] for b in buttons] == ["Yes, still coming", "Can't make it"]
    yes = fake_discord.press_button(buttons[0]["custom_id"], MEMBER)
    assert yes["flags"] & 64 and "you're still going to Supper" in yes["content"]
    assert counts(client, organizer, supper["id"])["confirmed"] == 1
    no = fake_discord.press_button(buttons[1]["custom_id"], MEMBER)
    assert "You can't go to Supper" in no["content"]
    mail_with(smtp_sink, "A place opened up: Supper", to="di@example.com")
    assert counts(client, organizer, supper["id"])["confirmed"] == 0


def answer_link(app, event_id: int, email: str) -> str:
    """The path of the answer links a mail to ``email`` about the event carries."""
    with app.app_context():
        user_id = db.session.scalar(select(User.id).where(User.email == email))
        return rsvp_path(rsvp_token(app.config["SECRET_KEY"], event_id, user_id, email))


def test_answers_on_cancelled_or_past_events_get_a_clear_error(
    app, client, person, bearer, organizer, worker,  # noqa: F811
):
    speaker = Speaker(platform="slack", workspace_id=TEAM, user_id="U0ALICE", display_name="alice")
    events = {}
    for name in ("cancelled", "past", "open"):
        events[name] = create_event(client, organizer, title=name, starts_at=future_iso(3), still_coming_check=True)
        going(client, bearer, person, events[name]["id"], f"{name}-guest")
    client.post(f"/api/v1/events/{events['cancelled']['id']}/cancel", headers=organizer)
    with app.app_context():
        db.session.get(Event, events["past"]["id"]).starts_at = utcnow() - timedelta(hours=1)
        db.session.commit()

    def post(name: str, answer: str):
        path = answer_link(app, events[name]["id"], f"{name}-guest@example.com")
        page = f"{path}/still-coming?answer={answer}"
        return client.post(f"{path}/still-coming", data={"answer": answer, "csrf_token": csrf_token(client, page)})

    for name, reason in (("cancelled", "cancelled"), ("past", "started or is over")):
        for answer in ("confirm", "no"):
            refused = post(name, answer)
            assert refused.status_code == 409 and reason in refused.get_data(as_text=True), (name, answer)
        pressed = Commands(app).rsvp_button(speaker, events[name]["id"], "confirm")
        assert not pressed.ok and reason in pressed.text
        assert answers(app, events[name]["id"]) == {f"{name}-guest@example.com": "going"}

    wrong = post("open", "perhaps")
    assert wrong.status_code == 422 and "Answer confirm" in wrong.get_data(as_text=True)
    put_answer(client, bearer(person("maybe@example.com")), events["open"]["id"], "maybe")
    path = answer_link(app, events["open"]["id"], "maybe@example.com")
    page = f"{path}/still-coming?answer=confirm"
    not_going = client.post(f"{path}/still-coming", data={"answer": "confirm", "csrf_token": csrf_token(client, page)})
    assert not_going.status_code == 409 and "not down as going" in not_going.get_data(as_text=True)
