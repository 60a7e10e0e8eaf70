"""Organizers working from chat: `create <title> <when>` in natural language read in the
organizer's zone, previews with Confirm buttons, announce / edit when / cancel, and clear
refusals for anyone but the event's linked organizer."""
import dataclasses
import json
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from soonish.bots import slack
from soonish.bots.core import Action, Commands, Reply, Speaker
from soonish.domain.messages import zoned_text
from soonish.models import ChatIdentity, Event, EventStatus, Notification, NotificationKind, Subscription, db, utcnow

from .api_helpers import create_event
from .chat_fakes import CHANNEL, TEAM, block_action, slash_command
from loopback.sinks import first_seen, wait_until
from .test_bots_discord import MEMBER, discord_bot  # noqa: F401 (a fixture)

NEW_YORK = ZoneInfo("America/New_York")
ALICE = Speaker(platform="slack", workspace_id=TEAM, user_id="U0ALICE", display_name="alice",
                timezone=lambda: "America/New_York")
BOB = Speaker(platform="slack", workspace_id=TEAM, user_id="U0BOB", display_name="bob")
STRANGER = Speaker(platform="slack", workspace_id=TEAM, user_id="U0NOBODY", display_name="nobody")


@pytest.fixture
def commands(app):
    return Commands(app)


@pytest.fixture
def host(make_user):
    return make_user("host@example.com")


def link(app, user, speaker: Speaker) -> None:
    """The speaker's chat account, joined with ``user``'s account (as `link <email>` does)."""
    with app.app_context():
        db.session.add(ChatIdentity(platform=speaker.platform, workspace_id=speaker.workspace_id,
                                    external_user_id=speaker.user_id, user_id=user.id))
        db.session.commit()


@pytest.fixture
def alice_is_host(app, host):
    link(app, host, ALICE)


def confirm_value(reply) -> str:
    assert reply.ok, reply.text
    assert [a.label for a in reply.actions][1:] == ["Never mind"]
    return reply.actions[0].value


def events_titled(app, title: str) -> list[Event]:
    with app.app_context():
        found = db.session.query(Event).filter_by(title=title).all()
        for event in found:
            db.session.expunge(event)
        return found


def at(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), NEW_YORK).astimezone(ZoneInfo("UTC"))


def expected_instants(now: datetime) -> dict[str, set[datetime]]:
    """Where each phrasing must land for someone in New York, worked out by hand."""
    local = now.astimezone(NEW_YORK)
    today = local.date()
    friday = (4 - today.weekday()) % 7
    monday = (0 - today.weekday()) % 7 or 7
    christmas_eve = date(today.year, 12, 24)
    if at(christmas_eve, 19) <= now:
        christmas_eve = date(today.year + 1, 12, 24)
    return {
        "tomorrow 7pm": {at(today + timedelta(days=1), 19)},
        # A Friday asked on a Friday may mean today (still ahead) or next week.
        "fri 18:30": {at(today + timedelta(days=friday), 18, 30), at(today + timedelta(days=friday or 7), 18, 30)},
        "next monday at noon": {at(today + timedelta(days=monday), 12)},
        "dec 24 7pm": {at(christmas_eve, 19)},
    }


def test_create_with_five_natural_phrasings_lands_at_the_right_instant(app, commands, host, alice_is_host, worker):
    now = utcnow()
    expected = expected_instants(now)
    for letter, phrase in zip("ABCDE", [*expected, "in 3 hours"]):
        title = f"Team lunch {letter}"
        preview = commands.run(ALICE, f"create {title} {phrase}")
        assert f"Create “{title}” on" in preview.text and "(America/New_York)" in preview.text
        assert events_titled(app, title) == []  # nothing before the Confirm button
        created = commands.press(ALICE, confirm_value(preview))
        assert created.ok and f"Created {title}." in created.text, created.text
        [event] = events_titled(app, title)
        assert event.organizer_id == host.id and event.timezone == "America/New_York"
        if phrase == "in 3 hours":
            assert abs(event.starts_at - (now + timedelta(hours=3))) < timedelta(minutes=2)
        else:
            assert event.starts_at in expected[phrase], (phrase, event.starts_at)


def test_times_that_cant_be_read_or_are_past_get_a_clear_answer(commands, alice_is_host, worker):
    reply = commands.run(ALICE, "create Party someday")
    assert not reply.ok and "I can't find a time in “Party someday”" in reply.text
    reply = commands.run(ALICE, "create Party yesterday 9am")
    assert not reply.ok and "is in the past" in reply.text
    reply = commands.run(ALICE, "create")
    assert not reply.ok and "Usage: `create <title> <when>`" in reply.text


def test_create_takes_a_phrasing_whole_and_asks_when_a_number_may_be_the_title(app, commands, alice_is_host, worker):
    week_from_tomorrow = utcnow().astimezone(NEW_YORK).date() + timedelta(days=8)
    preview = commands.run(ALICE, "create Board games a week from tomorrow 8am")
    assert preview.text == f"Create “Board games” on {zoned_text(at(week_from_tomorrow, 8), 'America/New_York')}?"
    assert commands.press(ALICE, confirm_value(preview)).ok
    [event] = events_titled(app, "Board games")
    assert event.starts_at == at(week_from_tomorrow, 8)

    # 42 may end the title or be the year (2042): the organizer chooses.
    asked = commands.run(ALICE, "create Meeting 42 fri 18:30")
    assert asked.ok and asked.text.startswith("I can read that more than one way. Which did you mean?\n")
    # Babel's English: "Sat, Dec 6, 2042, 6:30 PM EST", a narrow no-break space before PM.
    assert "\n1. “Meeting” on " in asked.text and " 2042, 6:30\u202fPM " in asked.text
    assert "\n2. “Meeting 42” on Fri, " in asked.text
    assert [a.label for a in asked.actions] == ["Create 1", "Create 2", "Never mind"]
    assert events_titled(app, "Meeting 42") == []  # nothing before a choice
    created = commands.press(ALICE, asked.actions[1].value)
    assert created.ok and "Created Meeting 42." in created.text, created.text
    [event] = events_titled(app, "Meeting 42")
    local = event.starts_at.astimezone(NEW_YORK)
    assert (local.weekday(), local.hour, local.minute) == (4, 18, 30) and local.year < 2042
    assert events_titled(app, "Meeting") == []
    assert not commands.press(ALICE, asked.actions[0].value).ok  # the other choice went with it


def test_slack_choice_buttons_have_action_ids_of_their_own():
    reply = Reply("Which did you mean?", actions=(
        Action("Create 1", "confirm:5:0"), Action("Create 2", "confirm:5:1"), Action("Never mind", "dismiss:5")))
    [buttons] = [b["elements"] for b in slack.render(reply)["blocks"] if b["type"] == "actions"]
    assert len({b["action_id"] for b in buttons}) == 3  # Slack refuses a message repeating one


def test_only_the_linked_organizer_may_change_an_event(app, client, commands, host, bearer, make_user,
                                                       alice_is_host, worker):
    event = create_event(client, bearer(host), title="Launch party")
    link(app, make_user("bob@example.com"), BOB)
    for command in (f"cancel {event['slug']}", f"announce {event['slug']} Free drinks",
                    f"edit {event['slug']} when tomorrow 9pm"):
        reply = commands.run(BOB, command)
        assert not reply.ok and "Only the organizer of Launch party can change it" in reply.text, command
    reply = commands.run(STRANGER, "create Picnic tomorrow noon")
    assert not reply.ok and "link this chat account first" in reply.text
    # Someone else can't press the organizer's Confirm either.
    preview = commands.run(ALICE, f"cancel {event['slug']}")
    pressed = commands.press(BOB, confirm_value(preview))
    assert not pressed.ok and "Only the person who asked" in pressed.text
    assert events_titled(app, "Launch party")[0].status == EventStatus.SCHEDULED


def test_announce_edit_and_cancel_from_chat(app, client, commands, host, bearer, alice_is_host, worker):
    event = create_event(client, bearer(host), title="Launch party", timezone="America/New_York")
    reply = commands.run(ALICE, f"announce {event['slug']} Doors open at 7")
    assert reply.ok and "on its way" in reply.text
    with app.app_context():
        assert db.session.query(Notification).filter_by(
            event_id=event["id"], kind=NotificationKind.ANNOUNCEMENT).one().title == "Doors open at 7"

    reply = commands.run(ALICE, f"edit {event['slug']} when tomorrow 9pm")
    assert reply.ok, reply.text
    tomorrow = utcnow().astimezone(NEW_YORK).date() + timedelta(days=1)
    assert events_titled(app, "Launch party")[0].starts_at == at(tomorrow, 21)
    reply = commands.run(ALICE, f"edit {event['slug']} when someday")
    assert not reply.ok and "I can't read “someday” as a time" in reply.text

    never_mind = commands.run(ALICE, f"cancel {event['slug']}")
    assert commands.press(ALICE, never_mind.actions[1].value).text == "Alright, nothing done."
    assert events_titled(app, "Launch party")[0].status == EventStatus.SCHEDULED
    preview = commands.run(ALICE, f"cancel {event['slug']}")
    value = confirm_value(preview)
    assert "is cancelled" in commands.press(ALICE, value).text
    assert events_titled(app, "Launch party")[0].status == EventStatus.CANCELLED
    again = commands.press(ALICE, value)  # the button pressed twice
    assert not again.ok and "already done" in again.text


def test_slack_create_preview_and_confirm_button(chat_config, app, client, host, alice_is_host, worker, fake_slack):
    body, headers = slash_command(fake_slack, "create Team lunch tomorrow 7pm")
    assert client.post("/slack/events", data=body, headers=headers).status_code == 200
    preview = fake_slack.wait_for_response(1)
    assert "Create “Team lunch” on" in preview["text"]
    buttons = next(b["elements"] for b in preview["blocks"] if b["type"] == "actions")
    assert [b["text"]["text"] for b in buttons] == ["Create it", "Never mind"]

    body, headers = block_action(fake_slack, buttons[0])
    assert client.post("/slack/events", data=body, headers=headers).status_code == 200
    assert "Created Team lunch." in fake_slack.wait_for_response(2)["text"]
    [event] = events_titled(app, "Team lunch")
    # Slack's profile gave no zone and the host has no events yet: read in UTC.
    tomorrow = utcnow().date() + timedelta(days=1)
    assert event.starts_at == datetime.combine(tomorrow, time(19), ZoneInfo("UTC"))


@pytest.fixture
def short_lead(app_config):
    """Reminder schedules fire 3 s ahead instead of 2 minutes, so a test sees a real one fire."""
    app_config["REMINDER_LEAD_SECONDS"] = 3


def starting_now_posts(posts: list[dict], channel: str, title: str) -> list[dict]:
    return [p for p in posts if p.get("channel", p.get("channel_id")) == channel
            and f"Starting now: {title}" in p.get("text", p.get("content", ""))]


@pytest.mark.slow
def test_starting_now_is_posted_once_in_a_channel_that_follows_an_event_or_where_it_was_created(
    short_lead, discord_bot, app, client, host, bearer, alice_is_host, worker, fake_slack, fake_discord,  # noqa: F811
):
    """Three channels on one timeline, each event starting about 20 s on: a Slack channel made
    to follow an event, an event created in a Slack channel and one created in a Discord channel."""
    town_hall = create_event(client, bearer(host), title="Town hall",
                             starts_at=(utcnow() + timedelta(seconds=25)).isoformat())
    fake_slack.admins.update({"U0ALICE", "U0BOB"})  # they may make the channel follow events
    body, headers = slash_command(fake_slack, f"subscribe {town_hall['slug']} here", user="U0BOB")
    client.post("/slack/events", data=body, headers=headers)
    assert "This channel now follows Town hall" in fake_slack.wait_for_response(1)["text"]
    assert "Reminders: 1d, 1h before" in json.dumps(fake_slack.wait_for_response(1)["blocks"])

    body, headers = slash_command(fake_slack, "create Standup in 20 seconds")
    client.post("/slack/events", data=body, headers=headers)
    buttons = next(b["elements"] for b in fake_slack.wait_for_response(2)["blocks"] if b["type"] == "actions")
    body, headers = block_action(fake_slack, buttons[0])
    client.post("/slack/events", data=body, headers=headers)
    created = fake_slack.wait_for_response(3)["text"]
    assert "Created Standup." in created and "This channel follows it" in created

    link(app, host, Speaker(platform="discord", workspace_id="", user_id=MEMBER))
    preview = fake_discord.run_command("create", MEMBER, title="Retro", when="in 20 seconds")
    confirm = preview["components"][0]["components"][0]
    assert confirm["label"] == "Create it"
    created = fake_discord.press_button(confirm["custom_id"], MEMBER, manage_channels=True)["content"]
    assert "Created Retro." in created and "This channel follows it" in created

    watched = {
        "Town hall": lambda: starting_now_posts(fake_slack.posted, "C0GENERAL", "Town hall"),
        "Standup": lambda: starting_now_posts(fake_slack.posted, "C0GENERAL", "Standup"),
        "Retro": lambda: starting_now_posts(fake_discord.messages, CHANNEL, "Retro"),
    }
    arrived = first_seen(watched, 90)
    for title, when in arrived.items():
        [event] = events_titled(app, title)
        assert event.starts_at - timedelta(seconds=1) <= when <= event.starts_at + timedelta(seconds=20), (
            title, event.starts_at, when)
    # Once: nothing more comes (the reminder machinery's key is the event, offset and start).
    last = max(arrived.values())
    wait_until(lambda: utcnow() > last + timedelta(seconds=8), 15, message="a while")
    assert {title: len(found()) for title, found in watched.items()} == {title: 1 for title in watched}
    [start_post] = watched["Town hall"]()
    assert "blocks" not in start_post  # answers are closed: no RSVP buttons under it


def test_a_channel_follows_what_is_created_there_only_with_the_checks_of_here(app, commands, host, alice_is_host, worker):
    in_channel = dataclasses.replace(ALICE, channel_id="C0GENERAL", channel_name="general")
    in_dm = dataclasses.replace(ALICE, channel_id="D0ALICE", channel_name="directmessage", in_direct_message=True)
    created = commands.press(in_channel, confirm_value(commands.create(in_channel, "Retro tomorrow 5pm")))
    assert created.ok and "This channel doesn't follow it: Only people who manage this channel" in created.text
    created = commands.press(in_dm, confirm_value(commands.create(in_dm, "Review tomorrow 6pm")))
    assert created.ok and "channel" not in created.text
    with app.app_context():
        assert db.session.query(Subscription).count() == 0  # neither the channel nor the DM follows
