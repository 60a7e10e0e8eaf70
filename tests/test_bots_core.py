"""The command core both bots share: helpful replies to bad input, autocomplete, and `link`
joining a chat account with an email's account."""
import re

import pytest

from soonish.bots.core import Commands, Speaker
from soonish.models import ChatIdentity, Subscription, SubscriptionStatus, User, db

from .api_helpers import create_event, subscribe
from .conftest import csrf_token
from loopback.sinks import wait_until

ALICE = Speaker(platform="slack", workspace_id="T0TEAM", user_id="U0ALICE", display_name="alice")


@pytest.fixture
def commands(app):
    return Commands(app)


@pytest.fixture
def organizer(make_user, bearer):
    return bearer(make_user("host@example.com"))


def test_an_unknown_command_gets_the_list_of_commands(commands):
    reply = commands.run(ALICE, "frobnicate launch")
    assert not reply.ok
    assert "I don't know the command “frobnicate”" in reply.text
    assert "`subscribe <event>`" in reply.text and "`remind <event> <offsets…>`" in reply.text


def test_an_unknown_event_is_named_with_how_to_find_one(commands):
    reply = commands.run(ALICE, "subscribe no-such-event")
    assert not reply.ok
    assert "I can't find the event “no-such-event”" in reply.text and "`events` lists upcoming ones" in reply.text


def test_a_bad_offset_says_what_an_offset_looks_like(commands):
    reply = commands.run(ALICE, "remind x 99y")
    assert not reply.ok
    assert "“99y” is not an offset like 1d, 2h or 15m" in reply.text


def test_a_command_missing_its_arguments_gets_its_usage(commands):
    reply = commands.run(ALICE, "remind launch-party")
    assert not reply.ok and reply.text.startswith("Usage: `remind <event> <offsets…>`")


def test_out_of_range_offsets_and_reminders_off(commands, client, organizer):
    event = create_event(client, organizer, title="Launch party")
    assert commands.run(ALICE, f"subscribe {event['slug']}").ok
    too_far = commands.run(ALICE, f"remind {event['slug']} 60d")
    assert not too_far.ok and "out of range" in too_far.text
    off = commands.run(ALICE, f"remind {event['slug']} off")
    assert off.ok and off.text == "No reminders for Launch party."
    (item,) = commands.run(ALICE, "list").events
    assert item.title == "Launch party" and item.reminders == ()


def test_autocomplete_suggests_matching_events(commands, client, organizer):
    launch = create_event(client, organizer, title="Launch party")
    create_event(client, organizer, title="Book club")
    assert commands.suggest_events(ALICE, "laun") == [("Launch party", launch["slug"])]


LINK_PATH = re.compile(r"http://soonish\.test(/link/\S+)")


def test_link_joins_the_chat_account_with_the_email_account(commands, app, client, make_user, bearer, organizer, worker, smtp_sink):
    shared = create_event(client, organizer, title="Shared event")
    chat_only = create_event(client, organizer, title="Chat only")
    account = make_user("ada@example.com")
    subscribe(client, bearer(account), shared["id"])  # by email
    assert commands.run(ALICE, f"subscribe {shared['slug']}").ok
    assert commands.run(ALICE, f"subscribe {chat_only['slug']}").ok
    with app.app_context():
        chat_user_id = db.session.query(ChatIdentity).one().user_id

    reply = commands.run(ALICE, "link Ada@Example.com")
    assert reply.ok and "I've sent a link to ada@example.com" in reply.text
    wait_until(lambda: any(m["Subject"] == "Link your Slack account to Soonish" for m in smtp_sink.messages),
               message="the link mail")
    mail = next(m for m in smtp_sink.messages if m["Subject"] == "Link your Slack account to Soonish")
    assert mail["X-Envelope-To"] == "ada@example.com"
    path = LINK_PATH.search(mail.get_body(preferencelist=("plain",)).get_content()).group(1)

    # Opening the link only asks: mail scanners open links.
    page = client.get(path)
    assert page.status_code == 200 and "Link your Slack account?" in page.get_data(as_text=True)
    with app.app_context():
        assert db.session.query(ChatIdentity).one().user_id == chat_user_id

    done = client.post(path, data={"csrf_token": csrf_token(client, path)})
    assert done.status_code == 200 and "Slack is linked" in done.get_data(as_text=True)
    with app.app_context():
        assert db.session.query(ChatIdentity).one().user_id == account.id
        assert db.session.get(User, chat_user_id) is None
        followed = {s.event_id: s for s in db.session.query(Subscription).filter_by(user_id=account.id)}
        assert set(followed) == {shared["id"], chat_only["id"]}
        assert db.session.query(Subscription).count() == 2  # no duplicate left behind
        # The account's own choice stands (its email); what only chat had keeps its DM.
        assert followed[shared["id"]].selectors == []
        assert [s.chat_identity_id for s in followed[chat_only["id"]].selectors] == [db.session.query(ChatIdentity).one().id]
        assert all(s.status == SubscriptionStatus.ACTIVE for s in followed.values())
    # The chat account now acts as Ada.
    assert [item.title for item in commands.run(ALICE, "list").events] == ["Shared event", "Chat only"]


def test_a_linked_chat_account_cannot_be_linked_to_another_address(commands, app):
    assert commands.run(ALICE, "list").ok  # Alice's first command makes her identity
    with app.app_context():
        db.session.query(User).one().email = "first@example.com"
        db.session.commit()
    reply = commands.run(ALICE, "link second@example.com")
    assert not reply.ok and "already linked to first@example.com" in reply.text
