"""The Channels page: the catalogue's per-type forms (errors beside the field, nothing saved),
and "Connect Slack/Discord" when those bots run here."""
from soonish.models import Integration, db

from .conftest import csrf_token


def test_a_typed_form_shows_field_errors_and_saves_nothing(app, client, make_user, login):
    login(make_user("bea@example.com"))
    page = "/channels/new/telegram"
    assert "Where do I find these?" in client.get(page).get_data(as_text=True)
    response = client.post(page, data={"bot_token": "nope", "chat_id": "", "csrf_token": csrf_token(client, page)})
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    assert 'id="field-bot_token-error"' in html and "expected digits, a colon" in html
    assert 'id="field-chat_id-error"' in html
    with app.app_context():
        assert db.session.query(Integration).count() == 0
    assert client.get("/channels/new/carrier-pigeon").status_code == 404


def test_connect_chat_is_offered_when_a_bot_runs(app, client, make_user, login):
    login(make_user("bea@example.com"))
    assert "Connect Slack" not in client.get("/channels").get_data(as_text=True)
    assert client.post("/channels/connect/slack", data={"csrf_token": csrf_token(client, "/channels")}).status_code == 404
    app.config.update(SLACK_BOT_TOKEN="xoxb-test", SLACK_INSTALL_URL="https://slack.com/oauth/v2/authorize?client_id=1")
    html = client.get("/channels").get_data(as_text=True)
    assert "Connect Slack" in html and 'action="/channels/connect/slack"' in html and "Connect Discord" not in html
    assert "https://slack.com/oauth/v2/authorize?client_id=1" in html


def test_event_pages_say_how_to_follow_in_slack_and_discord_when_the_bots_run(app, client, make_user, bearer):
    from .api_helpers import create_event

    # The settings change mid-test, as only a restart changes them in production: no kept page.
    app.config.update(EVENT_PAGE_CACHE_SECONDS=0)
    event = create_event(client, bearer(make_user("host@example.com")), title="Book club")
    assert "Follow in Slack" not in client.get(f"/e/{event['slug']}").get_data(as_text=True)
    app.config.update(SLACK_BOT_TOKEN="xoxb-test", DISCORD_BOT_TOKEN="discord-test",
                      DISCORD_INSTALL_URL="https://discord.com/oauth2/authorize?client_id=2")
    html = client.get(f"/e/{event['slug']}").get_data(as_text=True)
    assert "Follow in Slack" in html and "Follow in Discord" in html
    assert html.count(f"/soonish subscribe {event['slug']}") >= 2
    assert "https://discord.com/oauth2/authorize?client_id=2" in html


def test_a_channel_whose_test_fails_is_not_saved_and_the_form_says_why_as_typed(app, client, make_user, login, monkeypatch):
    """Telegram answers a made-up token 401 Unauthorized (core.telegram.org/bots/api#making-requests);
    the fake stands where api.telegram.org would, then nothing listens there at all."""
    from html import unescape

    from apprise.plugins.telegram import NotifyTelegram

    from loopback.sinks import HttpSink, free_port

    login(make_user("bea@example.com"))
    page = "/channels/new/telegram"
    typed = {"bot_token": "123456789:AAEmadeUpToken", "chat_id": "-100123"}
    telegram = HttpSink(failing=range(1, 100), failing_status=401).start()
    try:
        monkeypatch.setattr(NotifyTelegram, "notify_url", f"http://127.0.0.1:{telegram.port}/bot")
        refused = client.post(page, data={**typed, "csrf_token": csrf_token(client, page)})
        assert telegram.received and telegram.received[0].path == "/bot123456789:AAEmadeUpToken/sendMessage"
    finally:
        telegram.stop()
    html = unescape(refused.get_data(as_text=True))
    assert refused.status_code == 422 and "Telegram didn't accept that bot token" in html
    assert 'value="-100123"' in html and 'value="123456789:AAEmadeUpToken"' in html  # as typed

    monkeypatch.setattr(NotifyTelegram, "notify_url", f"http://127.0.0.1:{free_port()}/bot")
    unreachable = client.post(page, data={**typed, "csrf_token": csrf_token(client, page)})
    assert unreachable.status_code == 422
    assert "couldn't reach Telegram from the server, try again" in unescape(unreachable.get_data(as_text=True))
    with app.app_context():
        assert db.session.query(Integration).count() == 0
