"""Slack: signed slash commands at /slack/events, and broadcasts delivered to the user's DM
through the real worker (Slack's API faked on loopback)."""
import json
from urllib.parse import urlencode

import pytest

from soonish.models import ChatIdentity, Subscription, SubscriptionStatus, db

from .api_helpers import announce, create_event, subscribe
from .chat_fakes import SIGNING_SECRET, TEAM, FakeSlack, ledger_for, signed_headers, slash_command
from loopback.processes import start_soonish
from loopback.seeding import follow_in_chat
from loopback.sinks import wait_until
from .temporal_helpers import wait_for_schedules


@pytest.fixture
def organizer(make_user, bearer):
    return bearer(make_user("host@example.com"))


def send(client, fake_slack, text: str, **kwargs):
    body, headers = slash_command(fake_slack, text, **kwargs)
    return client.post("/slack/events", data=body, headers=headers)


def chat_subscription(app, user_id: str = "U0ALICE") -> Subscription | None:
    with app.app_context():
        identity = db.session.query(ChatIdentity).filter_by(external_user_id=user_id).one_or_none()
        if identity is None:
            return None
        subscription = db.session.query(Subscription).filter_by(user_id=identity.user_id).one_or_none()
        if subscription is not None:
            db.session.expunge(subscription)
        return subscription


def test_a_signed_slash_command_subscribes_the_user(chat_config, app, client, organizer, worker, fake_slack):
    event = create_event(client, organizer, title="Launch party")
    response = send(client, fake_slack, f"subscribe {event['slug']}")
    assert response.status_code == 200

    reply = fake_slack.wait_for_response(1)
    assert reply["response_type"] == "ephemeral"
    assert "You're following Launch party" in reply["text"]
    assert "<!date^" in json.dumps(reply["blocks"])  # the time in the reader's zone
    subscription = chat_subscription(app)
    assert subscription.event_id == event["id"] and subscription.status == SubscriptionStatus.ACTIVE


@pytest.mark.parametrize("tampering", ["wrong signature", "ten minutes old"])
def test_a_forged_or_stale_request_is_refused_and_changes_nothing(chat_config, app, client, organizer, fake_slack, tampering):
    event = create_event(client, organizer)
    if tampering == "wrong signature":
        response = send(client, fake_slack, f"subscribe {event['slug']}", secret="not-the-secret")
    else:
        response = send(client, fake_slack, f"subscribe {event['slug']}", age=600)
    assert response.status_code == 401
    with app.app_context():
        assert db.session.query(ChatIdentity).count() == 0
        assert db.session.query(Subscription).count() == 0
    assert fake_slack.responses == []


def test_slack_end_to_end_subscribe_announce_remind_unsubscribe(
    chat_config, app, client, make_user, bearer, organizer, worker, fake_slack, smtp_sink, harness, temporal_env
):
    event = create_event(client, organizer, title="Launch party", location="Atelier")
    # Someone following by email shows when a broadcast has gone out.
    subscribe(client, bearer(make_user("witness@example.com")), event["id"])
    send(client, fake_slack, f"subscribe http://soonish.test/e/{event['slug']}")
    fake_slack.wait_for_response(1)

    announce(client, organizer, event["id"], "Doors open at 7", "Bring a friend.")
    wait_until(lambda: any("Doors open at 7" in text for text in fake_slack.dms_to("U0ALICE")),
               message="the announcement in Alice's DM")
    dm = next(text for text in fake_slack.dms_to("U0ALICE") if "Doors open at 7" in text)
    assert "*Doors open at 7*" in dm and "Bring a friend." in dm
    assert "<!date^" in dm and "{date_long_pretty} {time}|" in dm
    assert f"<http://soonish.test/e/{event['slug']}|Open the event>" in dm
    # The worker records the send just after it: the welcome and the announcement.
    wait_until(lambda: ledger_for(app, f"slack:{TEAM}:U0ALICE") == [("slack", "sent")] * 2, message="the ledger")

    send(client, fake_slack, f"remind {event['slug']} 2h")
    assert "2h before" in fake_slack.wait_for_response(2)["text"]
    assert chat_subscription(app).reminder_offsets == [7200]
    # The witness keeps the defaults: the event's schedules are 1d, 1h (theirs) and 2h (this one).
    wait_for_schedules(harness, temporal_env, app, event["id"], {86400, 7200, 3600})

    send(client, fake_slack, f"unsubscribe {event['slug']}")
    assert "no longer follow" in fake_slack.wait_for_response(3)["text"]
    wait_for_schedules(harness, temporal_env, app, event["id"], {86400, 3600})
    announce(client, organizer, event["id"], "Second call")
    wait_until(lambda: any(m["Subject"] == "Second call" for m in smtp_sink.messages), message="the witness's mail")
    assert not any("Second call" in text for text in fake_slack.dms_to("U0ALICE"))


def test_a_channel_follows_an_event_only_when_a_manager_asks(chat_config, app, client, organizer, worker, fake_slack):
    event = create_event(client, organizer, title="Town hall")
    send(client, fake_slack, f"subscribe {event['slug']} here", user="U0BOB")
    assert "Only people who manage this channel" in fake_slack.wait_for_response(1)["text"]

    fake_slack.admins.add("U0BOB")
    send(client, fake_slack, f"subscribe {event['slug']} here", user="U0BOB")
    assert "This channel now follows Town hall" in fake_slack.wait_for_response(2)["text"]
    announce(client, organizer, event["id"], "Agenda posted")
    wait_until(lambda: any("Agenda posted" in text for text in fake_slack.dms_to("C0GENERAL")),
               message="the announcement in the channel")
    assert not fake_slack.dms_to("U0BOB")  # Bob himself follows nothing


def test_events_offer_a_subscribe_button_that_subscribes(chat_config, app, client, organizer, worker, fake_slack):
    event = create_event(client, organizer, title="Picnic")
    send(client, fake_slack, "events")
    blocks = fake_slack.wait_for_response(1)["blocks"]
    button = next(b["accessory"] for b in blocks if b.get("accessory"))
    assert button["value"] == event["slug"] and button["text"]["text"] == "Subscribe"

    payload = {
        "type": "block_actions", "team": {"id": TEAM}, "user": {"id": "U0ALICE", "name": "alice"},
        "channel": {"id": "C0GENERAL", "name": "general"}, "response_url": fake_slack.response_url(),
        "actions": [{"action_id": button["action_id"], "value": button["value"], "type": "button"}],
        "trigger_id": "1.2.3", "api_app_id": "A0APP",
    }
    body = urlencode({"payload": json.dumps(payload)})
    response = client.post("/slack/events", data=body, headers=signed_headers(body))
    assert response.status_code == 200
    assert "You're following Picnic" in fake_slack.wait_for_response(2)["text"]
    assert chat_subscription(app).event_id == event["id"]


def test_the_slack_bot_process_serves_socket_mode_and_stops_cleanly(chat_config, app, client, organizer, fake_slack, tmp_path):
    """`soonish bot slack`, as an operator starts it: Socket Mode commands, then SIGTERM."""
    event = create_event(client, organizer, title="Launch party")
    bot = start_soonish(["bot", "slack"], chat_config, "slack-bot", tmp_path, SLACK_APP_TOKEN="xapp-test",
                        SLACK_BOT_TOKEN="xoxb-test", SLACK_API_URL=fake_slack.api_url)
    try:
        envelope = fake_slack.send_over_socket(f"subscribe {event['slug']}")
        assert "You're following Launch party" in fake_slack.wait_for_response(1)["text"]
        assert envelope in fake_slack.acknowledged
    finally:
        bot.stop()
    assert bot.process.returncode == 0, bot.output()
    assert chat_subscription(app).event_id == event["id"]


def test_here_in_a_channel_the_bot_is_not_in_is_refused_with_guidance(chat_config, app, client, organizer, fake_slack):
    """A follow the bot could never post to is refused with how to fix it, never reported done."""
    event = create_event(client, organizer, title="Town hall")
    fake_slack.admins.add("U0BOB")
    fake_slack.private_channels.add("C0SECRET")

    send(client, fake_slack, f"subscribe {event['slug']} here", user="U0BOB", channel="C0RANDOM")
    refused = fake_slack.wait_for_response(1)["text"]
    assert "not a member" in refused and "/invite @Soonish" in refused
    send(client, fake_slack, f"subscribe {event['slug']} here", user="U0BOB", channel="C0SECRET")
    assert "private channel" in fake_slack.wait_for_response(2)["text"]
    with app.app_context():
        assert db.session.query(ChatIdentity).filter_by(kind="channel").count() == 0

    # With channels:join the bot joins a public channel itself, and the follow is made.
    fake_slack.scopes.add("channels:join")
    send(client, fake_slack, f"subscribe {event['slug']} here", user="U0BOB", channel="C0RANDOM")
    assert "This channel now follows Town hall" in fake_slack.wait_for_response(3)["text"]
    assert "C0RANDOM" in fake_slack.member_of


def test_here_in_a_direct_message_is_refused(chat_config, app, client, organizer, fake_slack):
    event = create_event(client, organizer)
    fake_slack.admins.add("U0ALICE")
    send(client, fake_slack, f"subscribe {event['slug']} here", channel="D0ALICE")
    assert "`here` works in a channel" in fake_slack.wait_for_response(1)["text"]
    with app.app_context():
        assert db.session.query(ChatIdentity).filter_by(kind="channel").count() == 0


def test_a_52_event_list_pages_within_block_kit_limits(chat_config, app, client, organizer, fake_slack):
    event_ids = [create_event(client, organizer, title=f"Meetup {n}")["id"] for n in range(52)]
    follow_in_chat(app, "slack", TEAM, "U0ALICE", event_ids)

    send(client, fake_slack, "list")
    reply = fake_slack.wait_for_response(1)  # Slack refuses a message of over 50 blocks outright
    assert len(reply["blocks"]) == 50
    shown = [b for b in reply["blocks"] if "Meetup" in b.get("text", {}).get("text", "")]
    assert len(shown) == 48
    more = reply["blocks"][-1]["elements"][0]["text"]
    assert more == "…and 4 more — see <http://soonish.test/subscriptions|the full list>"


def test_here_in_a_public_channel_with_chat_write_public_needs_no_membership(chat_config, app, client, organizer, fake_slack):
    event = create_event(client, organizer, title="Town hall")
    fake_slack.admins.add("U0BOB")
    fake_slack.scopes.add("chat:write.public")
    send(client, fake_slack, f"subscribe {event['slug']} here", user="U0BOB", channel="C0RANDOM")
    assert "This channel now follows Town hall" in fake_slack.wait_for_response(1)["text"]
    assert "C0RANDOM" not in fake_slack.member_of


@pytest.fixture
def slack_down(app_config):
    """Slack configured at an address where nothing listens yet (its fake, not started)."""
    slack = FakeSlack()
    app_config.update(SLACK_BOT_TOKEN="xoxb-test", SLACK_SIGNING_SECRET=SIGNING_SECRET, SLACK_API_URL=slack.api_url)
    yield slack
    if slack.started:
        slack.stop()


def test_a_fresh_process_with_slack_unreachable_says_so_and_works_once_slack_is_back(slack_down, app, client):
    # The first request a process handles makes bolt ask Slack's auth.test; Slack doesn't answer.
    response = send(client, slack_down, "help")
    assert response.status_code == 200
    assert response.get_json() == {"response_type": "ephemeral",
                                   "text": "Soonish can't reach Slack right now; try again in a minute."}

    slack_down.start()
    response = send(client, slack_down, "help")
    assert response.status_code == 200
    assert "Here's what I can do" in slack_down.wait_for_response(1)["text"]


def test_a_slack_user_whose_locale_is_french_gets_french(chat_config, app, client, organizer, fake_slack):
    fake_slack.locales["U0ALICE"] = "fr-FR"  # users.info with include_locale
    event = create_event(client, organizer, title="Launch party")
    send(client, fake_slack, f"subscribe {event['slug']}")

    reply = fake_slack.wait_for_response(1)
    assert reply["text"].startswith("Vous suivez Launch party. Ses nouvelles et vos rappels vous arriveront ici")
    with app.app_context():  # their DMs are written in it from now on
        assert db.session.query(ChatIdentity).filter_by(external_user_id="U0ALICE").one().locale == "fr"
