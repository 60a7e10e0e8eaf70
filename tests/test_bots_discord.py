"""Discord: the real discord.py bot on a fake Discord (REST and gateway on loopback) takes
/soonish commands, and the real worker delivers broadcasts to the member's DM."""
import asyncio

import discord
import pytest
from discord import app_commands

from soonish.bots.core import Commands
from soonish.bots.discord import DISCORD_LOCALES, CatalogTranslator, SoonishBot, command_group, command_text
from soonish.i18n import translations_for
from soonish.models import ChatIdentity, Subscription, db

from .api_helpers import announce, create_event, subscribe
from .chat_fakes import VIEW_CHANNEL, ledger_for
from loopback.processes import start_soonish
from loopback.seeding import follow_in_chat
from loopback.sinks import wait_until
from .temporal_helpers import wait_for_schedules

MEMBER = "700000000000000042"


@pytest.fixture
def organizer(make_user, bearer):
    return bearer(make_user("host@example.com"))


@pytest.fixture
def discord_bot(chat_config, app, harness, fake_discord):
    async def build():  # a client must be made on the loop that runs it
        return SoonishBot(app)

    bot = harness.run(build())
    running = harness.spawn(bot.start(app.config["DISCORD_BOT_TOKEN"]))
    fake_discord.wait_until_connected()
    yield bot
    # discord.py waits a moment for servers after Ready; let it finish before closing.
    harness.run(bot.wait_until_ready(), timeout=10)
    harness.run(bot.close())
    running.result(10)


def member_subscription(app) -> Subscription:
    with app.app_context():
        identity = db.session.query(ChatIdentity).filter_by(platform="discord", external_user_id=MEMBER).one()
        subscription = db.session.query(Subscription).filter_by(user_id=identity.user_id).one()
        db.session.expunge(subscription)
        return subscription


def test_the_bot_registers_the_soonish_group(discord_bot, fake_discord):
    (group,) = fake_discord.synced_commands
    assert group["name"] == "soonish"
    assert {o["name"] for o in group["options"]} == {
        "subscribe", "unsubscribe", "remind", "list", "events", "link", "connect", "help", "rsvp", "create", "announce",
        "edit", "cancel",
    }
    subscribe_options = next(o for o in group["options"] if o["name"] == "subscribe")["options"]
    assert next(o for o in subscribe_options if o["name"] == "event")["autocomplete"] is True
    # Synced with each client language's texts (CatalogTranslator).
    rsvp_answer = next(o for o in group["options"] if o["name"] == "rsvp")["options"][1]
    assert rsvp_answer["choices"][0]["name_localizations"]["de"] == "Ich komme"


SHIPPED_ON_DISCORD = {"es-ES", "fr", "de", "pt-BR"}  # Arabic: Discord has no such client locale


def localized(payload: dict):
    """Each text of a synced command payload with its localizations: (english, localizations, is_name)."""
    yield payload["name"], payload.get("name_localizations") or {}, True
    if "description" in payload:
        yield payload["description"], payload.get("description_localizations") or {}, False
    for choice in payload.get("choices", ()):
        yield choice["name"], choice.get("name_localizations") or {}, False
    for option in payload.get("options", ()):
        yield from localized(option)


def test_the_commands_are_synced_in_each_client_language_we_ship(app):
    async def synced_payload() -> dict:
        tree = app_commands.CommandTree(discord.Client(intents=discord.Intents.none()))
        group = command_group(Commands(app))
        tree.add_command(group)
        return await group.get_translated_payload(tree, CatalogTranslator())

    payload = asyncio.run(synced_payload())

    rsvp = next(o for o in payload["options"] if o["name"] == "rsvp")
    assert rsvp["options"][1]["choices"][0]["name_localizations"] == {
        "es-ES": "Voy", "fr": "J'y vais", "de": "Ich komme", "pt-BR": "Vou"}
    texts = list(localized(payload))
    assert len(texts) > 50 and "Post its updates in this channel instead (channel managers)" in {t[0] for t in texts}
    for english, localizations, is_name in texts:
        assert set(localizations) <= SHIPPED_ON_DISCORD, english
        # Every text the catalog translates reaches Discord, as Discord takes it.
        for locale, ours in DISCORD_LOCALES.items():
            expected = command_text(translations_for(ours).ugettext(english), english, is_name)
            assert localizations.get(locale.value) == expected, (english, locale)


def test_a_translated_name_discord_would_refuse_is_left_english():
    assert command_text("Abonnieren", "subscribe", is_name=True) == "abonnieren"
    assert command_text("se désabonner", "unsubscribe", is_name=True) is None  # a space
    assert command_text("x" * 101, "The message", is_name=False) is None
    assert command_text("subscribe", "subscribe", is_name=True) is None  # untranslated: Discord's English


def test_discord_end_to_end_subscribe_announce_remind_unsubscribe(
    discord_bot, app, client, make_user, bearer, organizer, worker, fake_discord, smtp_sink, harness, temporal_env
):
    event = create_event(client, organizer, title="Launch party")
    subscribe(client, bearer(make_user("witness@example.com")), event["id"])

    answer = fake_discord.run_command("subscribe", MEMBER, event=event["slug"])
    assert answer["flags"] & 64  # only the member sees it
    assert "You're following Launch party" in answer["content"] and "<t:" in answer["content"]

    announce(client, organizer, event["id"], "Doors open at 7", "Bring a friend.")
    wait_until(lambda: any("Doors open at 7" in m for m in fake_discord.dms_to(MEMBER)),
               message="the announcement in the member's DM")
    dm = next(m for m in fake_discord.dms_to(MEMBER) if "Doors open at 7" in m)
    assert "**Doors open at 7**" in dm and "Bring a friend." in dm
    assert "<t:" in dm and ":F> (<t:" in dm and ":R>)" in dm
    # The worker records the send just after it: the welcome and the announcement.
    wait_until(lambda: ledger_for(app, f"discord::{MEMBER}") == [("discord", "sent")] * 2, message="the ledger")

    answer = fake_discord.run_command("remind", MEMBER, event=event["slug"], offsets="2h")
    assert "2h before" in answer["content"]
    assert member_subscription(app).reminder_offsets == [7200]
    # The witness keeps the defaults: the event's schedules are 1d, 1h (theirs) and 2h (this one).
    wait_for_schedules(harness, temporal_env, app, event["id"], {86400, 7200, 3600})

    answer = fake_discord.run_command("unsubscribe", MEMBER, event=event["slug"])
    assert "no longer follow" in answer["content"]
    wait_for_schedules(harness, temporal_env, app, event["id"], {86400, 3600})
    announce(client, organizer, event["id"], "Second call")
    wait_until(lambda: any(m["Subject"] == "Second call" for m in smtp_sink.messages), message="the witness's mail")
    assert not any("Second call" in m for m in fake_discord.dms_to(MEMBER))


def test_a_channel_manager_makes_the_channel_follow(discord_bot, app, client, organizer, worker, fake_discord):
    event = create_event(client, organizer, title="Town hall")
    refused = fake_discord.run_command("subscribe", MEMBER, event=event["slug"], here=True)
    assert "Only people who manage this channel" in refused["content"]

    accepted = fake_discord.run_command("subscribe", MEMBER, manage_channels=True, event=event["slug"], here=True)
    assert "This channel now follows Town hall" in accepted["content"]
    announce(client, organizer, event["id"], "Agenda posted")
    wait_until(lambda: any("Agenda posted" in m["content"] for m in fake_discord.messages),
               message="the announcement in the channel")
    (posted,) = [m for m in fake_discord.messages if "Agenda posted" in m["content"]]
    assert posted["channel_id"] == "900000000000000004" and posted["allowed_mentions"] == {"parse": []}


def test_event_autocomplete_and_help(discord_bot, client, organizer, fake_discord):
    launch = create_event(client, organizer, title="Launch party")
    create_event(client, organizer, title="Book club")
    choices = fake_discord.autocomplete("subscribe", MEMBER, "event", "laun")
    assert choices == [{"name": "Launch party", "value": launch["slug"]}]
    answer = fake_discord.run_command("help", MEMBER)
    assert answer["flags"] & 64 and "`remind <event> <offsets…>`" in answer["content"]


def test_the_discord_bot_process_answers_commands_and_stops_cleanly(chat_config, client, organizer, fake_discord, tmp_path):
    """`soonish bot discord`, as an operator starts it: on the gateway, a command, then SIGTERM."""
    create_event(client, organizer, title="Launch party")
    bot = start_soonish(["bot", "discord"], chat_config, "discord-bot", tmp_path, DISCORD_BOT_TOKEN="discord-test-token",
                        DISCORD_API_URL=fake_discord.api_url, DISCORD_GATEWAY_URL=fake_discord.gateway_url)
    try:
        fake_discord.wait_until_connected()
        answer = fake_discord.run_command("events", MEMBER)
        assert "Launch party" in answer["content"]
    finally:
        bot.stop()
    assert bot.process.returncode == 0, bot.output()


def test_here_without_the_bots_posting_permission_is_refused_with_guidance(discord_bot, app, client, organizer, fake_discord):
    event = create_event(client, organizer, title="Town hall")
    refused = fake_discord.run_command("subscribe", MEMBER, manage_channels=True, bot_permissions=VIEW_CHANNEL,
                                       event=event["slug"], here=True)
    assert "missing the Send Messages permission" in refused["content"]
    with app.app_context():
        assert db.session.query(ChatIdentity).filter_by(kind="channel").count() == 0


def test_a_long_list_ends_with_where_to_read_the_rest_not_mid_link(discord_bot, app, client, organizer, fake_discord):
    event_ids = [create_event(client, organizer, title=f"Meetup {n}")["id"] for n in range(52)]
    follow_in_chat(app, "discord", "", MEMBER, event_ids)

    content = fake_discord.run_command("list", MEMBER)["content"]
    assert len(content) <= 2000
    *events, more = content.split("\n\n")[1:]
    assert all(e.startswith("**[Meetup ") and e.count("](") == 1 and "<t:" in e for e in events)
    assert more == f"…and {52 - len(events)} more — see [the full list](http://soonish.test/subscriptions)"


def test_a_bot_that_cannot_log_in_retries_with_backoff_instead_of_exiting(chat_config, client, organizer, fake_discord, tmp_path):
    """A refused login (bad token, Discord down) leaves the process up and retrying; once the
    login works it serves commands, and SIGTERM still stops it cleanly."""
    create_event(client, organizer, title="Launch party")
    fake_discord.refused_logins = 2
    bot = start_soonish(["bot", "discord"], chat_config, "discord-bot", tmp_path, DISCORD_BOT_TOKEN="discord-test-token",
                        DISCORD_API_URL=fake_discord.api_url, DISCORD_GATEWAY_URL=fake_discord.gateway_url)
    try:
        bot.wait_for_output("retrying in 2 s")  # the second wait is twice the first
        fake_discord.wait_until_connected()
        assert "Launch party" in fake_discord.run_command("events", MEMBER)["content"]
    finally:
        bot.stop()
    assert bot.process.returncode == 0, bot.output()
    assert bot.output().count("Discord bot failed (LoginFailure") == 2


def test_a_server_the_bot_leaves_stops_its_channel_follows(discord_bot, app, client, organizer, worker, fake_discord,
                                                          smtp_sink):
    from soonish.models import ChatInstallation, SubscriptionStatus

    def server():
        with app.app_context():
            row = db.session.query(ChatInstallation).filter_by(platform="discord").one_or_none()
            return (row.workspace_name, row.is_active, row.removed_reason) if row else None

    fake_discord.add_to_server(name="Board games")
    wait_until(lambda: server() == ("Board games", True, None), message="the server recorded")
    event = create_event(client, organizer, title="Town hall")
    accepted = fake_discord.run_command("subscribe", MEMBER, manage_channels=True, event=event["slug"], here=True)
    assert "This channel now follows Town hall" in accepted["content"]

    fake_discord.remove_from_server()
    wait_until(lambda: server() == ("Board games", False, "guild_delete"), message="the server marked left")
    with app.app_context():
        channel = db.session.query(ChatIdentity).filter_by(platform="discord", kind="channel").one()
        status = db.session.query(Subscription).filter_by(user_id=channel.user_id).one().status
    assert status == SubscriptionStatus.UNSUBSCRIBED
    subscribe(client, organizer, event["id"])  # a follower by mail shows the broadcast went out
    announce(client, organizer, event["id"], "Agenda posted")
    wait_until(lambda: any(m["Subject"] == "Agenda posted" for m in smtp_sink.messages), message="the mail")
    assert not any("Agenda" in m["content"] for m in fake_discord.messages)
