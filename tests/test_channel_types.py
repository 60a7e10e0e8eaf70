"""The channel catalogue: GET /api/v1/channel-types, and channels made from a type's fields
(the server builds the Apprise URL) with per-field errors naming the field."""
import pytest

from soonish.domain.delivery import parse_apprise_url
from soonish.models import Integration, db
from soonish.services.channel_types import CATALOGUE, build_url
from soonish.services.integrations import cipher

from loopback.sinks import HttpSink, free_port

GOOD_FIELDS = {
    "ntfy": {"server": "https://ntfy.sh", "topic": "soonish-abc"},
    "telegram": {"bot_token": "123456789:AAEabc_def-ghi", "chat_id": "-100123"},
    "discord_webhook": {"webhook_url": "https://discord.com/api/webhooks/1234567890/abcDEF_ghi-jkl"},
    "slack_webhook": {"webhook_url": "https://hooks.slack.com/services/T0001/B0002/abcdEFGH1234"},
    "teams": {"webhook_url": "https://prod-00.westus.logic.azure.com:443/workflows/abc123def/triggers/manual/paths/"
                             "invoke?api-version=2016-06-01&sp=%2Ftriggers&sv=1.0&sig=AbC-dEf_123"},
    "matrix": {"server": "https://matrix.org", "token": "syt_abc", "room": "#soonish:matrix.org"},
    "gotify": {"server": "https://gotify.example.com", "token": "AbCdEf12345"},
    "pushover": {"user_key": "u" * 30, "token": "a" * 30},
    "signal": {"server": "https://signal.example.com:8080", "from_phone": "+1 555 123 4567", "to_phone": "+15557654321"},
    "sms_twilio": {"account_sid": "AC0123abcdef", "auth_token": "abc123", "from_phone": "+15551234567",
                   "to_phone": "+15557654321"},
    "home_assistant": {"server": "https://home.example.com:8123", "token": "eyJ0eXAi.abc"},
    "webhook": {"url": "https://hooks.example.com/soonish?key=s3cret"},
}


@pytest.fixture
def headers(make_user, bearer):
    return bearer(make_user("member@example.com"))


def test_catalogue_lists_every_type_with_its_fields(client):
    response = client.get("/api/v1/channel-types")
    assert response.status_code == 200
    types = {t["type"]: t for t in response.get_json()}
    # Every Apprise type, and email (another address, delivered by our own SMTP).
    assert set(types) == set(GOOD_FIELDS) | {"email"}
    assert [(f["name"], f["kind"]) for f in types["email"]["fields"]] == [("address", "email")]
    ntfy = types["ntfy"]
    assert ntfy["label"] == "ntfy" and ntfy["help_url"].startswith("https://")
    assert [f["name"] for f in ntfy["fields"]] == ["server", "topic", "token"]
    topic = ntfy["fields"][1]
    assert topic["required"] is True and topic["pattern"] and topic["expected"]
    assert types["telegram"]["fields"][0]["secret"] is True
    spec = client.get("/api/v1/openapi.json").get_json()
    assert "/api/v1/channel-types" in spec["paths"]
    integration_in = spec["components"]["schemas"]["IntegrationIn"]["properties"]
    assert set(integration_in["type"]["enum"]) == set(GOOD_FIELDS) | {"email"}


@pytest.mark.parametrize("channel_type", sorted(GOOD_FIELDS))
def test_each_type_builds_a_url_apprise_parses_into_its_plugin(channel_type):
    spec = next(t for t in CATALOGUE if t.key == channel_type)
    # The shape is one the plugin itself declares, and Apprise reads the URL back as that plugin.
    assert spec.template in spec.plugin.templates
    assert isinstance(parse_apprise_url(build_url(channel_type, GOOD_FIELDS[channel_type])), spec.plugin)


@pytest.fixture
def telegram(monkeypatch):
    """A stand-in where api.telegram.org would be (only the third party is faked): it takes
    the test message, or with ``failing`` set answers as Telegram does a made-up bot token,
    401 Unauthorized (core.telegram.org/bots/api#making-requests)."""
    from apprise.plugins.telegram import NotifyTelegram

    sink = HttpSink().start()
    monkeypatch.setattr(NotifyTelegram, "notify_url", f"http://127.0.0.1:{sink.port}/bot")
    yield sink
    sink.stop()


def test_a_typed_channel_is_stored_encrypted_with_the_built_url(app, client, headers, telegram):
    response = client.post("/api/v1/integrations", headers=headers, json={
        "type": "telegram", "fields": {"bot_token": "123456789:AAEabc_def-ghi", "chat_id": "-100123"}})
    assert response.status_code == 201, response.get_json()
    # Tested before it was saved: the test message went to the bot's chat.
    assert [r.path for r in telegram.delivered()] == ["/bot123456789:AAEabc_def-ghi/sendMessage"]
    body = response.get_json()
    assert body["name"] == "Telegram" and body["channel"]
    assert "AAEabc" not in str(body)  # the token is never shown back
    with app.app_context():
        stored = db.session.get(Integration, body["id"])
        assert cipher().decrypt(stored.apprise_url_encrypted) == "tgram://123456789:AAEabc_def-ghi/-100123"


def test_bad_fields_get_an_error_naming_each_field_and_nothing_is_saved(app, client, headers):
    response = client.post("/api/v1/integrations", headers=headers, json={
        "type": "telegram", "name": "TG", "fields": {"bot_token": "not a token", "surprise": "x"}})
    assert response.status_code == 422
    errors = response.get_json()["error"]["fields"]
    assert "expected digits, a colon" in errors["fields.bot_token"][0]
    assert errors["fields.chat_id"] == ["Chat ID is required: a number (groups start with -) or a @username."]
    assert "no field “surprise”" in errors["fields.surprise"][0]

    response = client.post("/api/v1/integrations", headers=headers, json={
        "type": "discord_webhook", "fields": {"webhook_url": "https://example.com/api/webhooks/1/2"}})
    assert response.status_code == 422
    assert "https://discord.com/api/webhooks/" in response.get_json()["error"]["fields"]["fields.webhook_url"][0]

    response = client.post("/api/v1/integrations", headers=headers, json={
        "type": "ntfy", "fields": {"server": "ftp://ntfy.sh", "topic": "has spaces"}})
    assert response.status_code == 422
    assert set(response.get_json()["error"]["fields"]) == {"fields.server", "fields.topic"}
    with app.app_context():
        assert db.session.query(Integration).count() == 0


def test_unknown_type_and_url_with_type_are_refused(client, headers):
    response = client.post("/api/v1/integrations", headers=headers, json={"type": "carrier-pigeon", "fields": {}})
    assert response.status_code == 422 and "type" in response.get_json()["error"]["fields"]
    response = client.post("/api/v1/integrations", headers=headers, json={
        "type": "ntfy", "url": "ntfy://x", "fields": GOOD_FIELDS["ntfy"]})
    assert response.status_code == 422
    response = client.post("/api/v1/integrations", headers=headers, json={"name": "nothing"})
    assert response.status_code == 422


def test_a_typed_channel_on_a_private_host_is_refused_naming_the_field(app_config, client, headers, app):
    app.config["ALLOW_PRIVATE_TARGETS"] = False
    response = client.post("/api/v1/integrations", headers=headers, json={
        "type": "ntfy", "fields": {"server": "http://127.0.0.1:9", "topic": "mine"}})
    assert response.status_code == 422
    assert "Refused" in response.get_json()["error"]["fields"]["fields.server"][0]


def test_a_typed_channel_test_sends_to_the_server_given(client, headers, http_sink):
    response = client.post("/api/v1/integrations", headers=headers, json={
        "type": "ntfy", "fields": {"server": f"http://127.0.0.1:{http_sink.port}", "topic": "soonish-test"}})
    assert response.status_code == 201, response.get_json()
    result = client.post(f"/api/v1/integrations/{response.get_json()['id']}/test", headers=headers).get_json()
    assert result == {"delivered": True, "error": None}
    # One test before it was saved, one asked for since.
    tested_first, asked = http_sink.delivered()
    for request in (tested_first, asked):
        assert request.body["topic"] == "soonish-test" and "It works" in request.body["message"]


def test_a_typed_channel_the_service_refuses_is_a_422_naming_the_field_and_is_not_saved(
        app, client, headers, telegram, monkeypatch):
    typed = {"type": "telegram", "name": "TG", "fields": {"bot_token": "123456789:AAEmadeUpToken", "chat_id": "-100123"}}
    telegram.failing, telegram.failing_status = range(1, 100), 401
    refused = client.post("/api/v1/integrations", headers=headers, json=typed)
    assert refused.status_code == 422
    assert refused.get_json()["error"]["fields"] == {"fields.bot_token": ["Telegram didn't accept that bot token"]}
    assert telegram.received[0].path == "/bot123456789:AAEmadeUpToken/sendMessage"

    from apprise.plugins.telegram import NotifyTelegram

    monkeypatch.setattr(NotifyTelegram, "notify_url", f"http://127.0.0.1:{free_port()}/bot")  # nothing listens
    unreachable = client.post("/api/v1/integrations", headers=headers, json=typed)
    assert unreachable.status_code == 422
    assert unreachable.get_json()["error"]["fields"] == {
        "fields.bot_token": ["couldn't reach Telegram from the server, try again"]}
    with app.app_context():
        assert db.session.query(Integration).count() == 0
