"""Connect Slack / Discord from the web side: a signed-in person gets a one-time code, types it
in the chat, and that chat account joins theirs at once (no mail round trip); it then shows as a
channel (page and API), an announcement reaches its DM, and it can be removed. Slack's and
Discord's APIs are faked on loopback (tests/chat_fakes.py)."""
import re
from datetime import timedelta

import pytest

from soonish.models import ChatConnectCode, ChatIdentity, SubscriptionSelector, User, db

from .api_helpers import announce, create_event, subscribe
from .chat_fakes import TEAM, ledger_for, slash_command
from .conftest import csrf_token
from loopback.sinks import wait_until
from .test_bots_discord import MEMBER, discord_bot  # noqa: F401 (a fixture)

CODE = re.compile(r"/soonish connect ([A-Z]{4}-[0-9]{4})")


@pytest.fixture
def bea(make_user, login):
    user = make_user("bea@example.com")
    login(user)
    return user


def connect_code(client, platform: str = "slack") -> str:
    page = client.post(f"/channels/connect/{platform}", data={"csrf_token": csrf_token(client, "/channels")})
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "It works once, for 10 minutes" in html and 'hx-trigger="every 3s"' in html
    assert "Waiting for you to type it" in html
    return CODE.search(html).group(1)


class SlackChat:
    """Alice and Bob typing /soonish in the fake Slack; each answer is the next reply."""

    def __init__(self, client, fake_slack) -> None:
        self.client, self.fake_slack, self.answered = client, fake_slack, 0

    def type(self, text: str, user: str = "U0ALICE") -> str:
        body, headers = slash_command(self.fake_slack, text, user=user, channel="D0ALICE")
        assert self.client.post("/slack/events", data=body, headers=headers).status_code == 200
        self.answered += 1
        return self.fake_slack.wait_for_response(self.answered)["text"]


def test_a_connect_code_joins_the_slack_account_which_then_gets_announcements_in_its_dm(
        chat_config, app, client, bea, make_user, bearer, worker, fake_slack):
    organizer = bearer(make_user("host@example.com"))
    event = create_event(client, organizer, title="Launch party")
    slack = SlackChat(client, fake_slack)
    code = connect_code(client)
    # Until it is typed, the page's polls are told "no change".
    assert client.get("/channels/connect/slack/status", headers={"HX-Request": "true"}).status_code == 204
    assert "Waiting for you to type it" in client.get("/channels/connect/slack/status").get_data(as_text=True)

    reply = slack.type(f"connect {code.lower().replace('-', '')}")  # typed loosely, still the code
    assert "Connected" in reply and "bea@example.com" in reply
    with app.app_context():
        identity = db.session.query(ChatIdentity).one()
        assert identity.user_id == bea.id and identity.handle == "u0alice" and identity.workspace_name == "acme"
        assert db.session.query(User).count() == 2  # Bea and the organizer: the chat user was folded in

    done = client.get("/channels/connect/slack/status", headers={"HX-Request": "true"}).get_data(as_text=True)
    assert "Connected." in done and "Slack: @u0alice in acme workspace" in done and "hx-trigger" not in done
    page = client.get("/channels").get_data(as_text=True)
    assert "Slack: @u0alice in acme workspace" in page and f"/channels/chat/{identity.id}/remove" in page
    listed = client.get("/api/v1/chat-accounts", headers=bearer(bea)).get_json()
    assert listed == {"items": [{"id": identity.id, "platform": "slack", "handle": "u0alice", "workspace_name": "acme",
                                 "label": "Slack: @u0alice in acme workspace",
                                 "created_at": listed["items"][0]["created_at"]}], "next_cursor": None}

    subscribe(client, bearer(bea), event["id"], selectors=[{"chat_identity_id": identity.id}])
    announce(client, organizer, event["id"], "Doors open at 7")
    wait_until(lambda: any("Doors open at 7" in text for text in fake_slack.dms_to("U0ALICE")),
               message="the announcement in Alice's DM")
    wait_until(lambda: ledger_for(app, f"slack:{TEAM}:U0ALICE") == [("slack", "sent")] * 2,
               message="the welcome and the announcement, once each")


def test_unknown_reused_expired_and_other_platform_codes_are_refused_clearly(
        chat_config, app, client, bea, make_user, fake_slack):
    slack = SlackChat(client, fake_slack)
    unknown = slack.type("connect ZZZZ-2222")
    assert unknown == "I don't know the code “ZZZZ-2222”. Get a new code on the Channels page of Soonish (Connect Slack)."
    assert "Usage: `connect &lt;code&gt;`" in slack.type("connect")

    expired = connect_code(client)
    with app.app_context():
        row = db.session.query(ChatConnectCode).one()
        row.expires_at -= timedelta(minutes=11)
        db.session.commit()
    assert "This code has expired (codes work for 10 minutes)" in slack.type(f"connect {expired}")

    app.config["DISCORD_BOT_TOKEN"] = "discord-test"
    discord_code = connect_code(client, "discord")
    assert "This code is for Discord" in slack.type(f"connect {discord_code}")

    code = connect_code(client)
    assert "Connected" in slack.type(f"connect {code}")
    assert "used already" in slack.type(f"connect {code}", user="U0BOB")
    with app.app_context():
        bob = db.session.query(ChatIdentity).filter_by(external_user_id="U0BOB").one()
        assert bob.user_id != bea.id  # Bob typing Bea's used code joined nothing

    # The web side: an unknown platform or one without a bot is not offered.
    assert client.post("/channels/connect/telegram", data={"csrf_token": csrf_token(client, "/channels")}).status_code == 404


def test_a_slack_account_linked_to_another_account_is_not_taken_over(chat_config, app, client, make_user, bearer,
                                                                      fake_slack):
    other = make_user("carol@example.com")
    response = client.post("/api/v1/chat-accounts/connect-codes", json={"platform": "slack"}, headers=bearer(other))
    assert response.status_code == 201
    slack = SlackChat(client, fake_slack)
    assert "Connected" in slack.type(f"connect {response.get_json()['code']}")
    bea = make_user("bea@example.com")
    code = client.post("/api/v1/chat-accounts/connect-codes", json={"platform": "slack"}, headers=bearer(bea)).get_json()
    assert code["command"] == f"/soonish connect {code['code']}"
    assert "linked to another Soonish account (carol@example.com)" in slack.type(f"connect {code['code']}")
    with app.app_context():
        assert db.session.query(ChatIdentity).one().user_id == other.id


def test_connect_codes_api_refuses_bad_platforms_per_field(app, client, make_user, bearer):
    headers = bearer(make_user("bea@example.com"))
    for body in ({"platform": "telegram"}, {}, {"platform": "slack"}):  # no Slack bot runs in this test
        response = client.post("/api/v1/chat-accounts/connect-codes", json=body, headers=headers)
        assert response.status_code == 422, body
        assert "platform" in response.get_json()["error"]["fields"]
    spec = client.get("/api/v1/openapi.json").get_json()
    assert spec["components"]["schemas"]["ConnectCodeIn"]["properties"]["platform"]["enum"] == ["slack", "discord"]
    assert {"get", "delete"} <= set(spec["paths"]["/api/v1/chat-accounts"]) | set(
        spec["paths"]["/api/v1/chat-accounts/{identity_id}"])


def test_discord_connect_then_remove_the_chat_account(discord_bot, app, client, bea, bearer, fake_discord):  # noqa: F811
    code = connect_code(client, "discord")
    answer = fake_discord.run_command("connect", MEMBER, code=code)
    assert "Connected: this Discord account is now part of your Soonish account" in answer["content"]
    with app.app_context():
        identity = db.session.query(ChatIdentity).filter_by(platform="discord").one()
        assert identity.user_id == bea.id
    assert "Discord: @user042" in client.get("/channels").get_data(as_text=True)

    removed = client.post(f"/channels/chat/{identity.id}/remove", data={"csrf_token": csrf_token(client, "/channels")},
                          follow_redirects=True)
    assert "Chat account removed" in removed.get_data(as_text=True)
    assert "Discord: @user042" not in removed.get_data(as_text=True)
    with app.app_context():
        assert db.session.query(ChatIdentity).count() == 0
        assert db.session.query(SubscriptionSelector).count() == 0
    assert client.delete(f"/api/v1/chat-accounts/{identity.id}", headers=bearer(bea)).status_code == 404


def test_a_deleted_accounts_code_connects_nothing(chat_config, app, client, make_user, bearer, fake_slack):
    from soonish.services import erasure

    bea = make_user("bea@example.com")
    code = client.post("/api/v1/chat-accounts/connect-codes", json={"platform": "slack"}, headers=bearer(bea)).get_json()
    with app.test_request_context():
        erasure.erase(db.session.get(User, bea.id))
        assert db.session.query(ChatConnectCode).count() == 0
    assert "I don't know the code" in SlackChat(client, fake_slack).type(f"connect {code['code']}")
