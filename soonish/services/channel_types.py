"""The channel catalogue: the services people use, each a small form whose fields the server
turns into an Apprise URL, so nobody has to learn Apprise's URL syntax.

Each type names the Apprise plugin that delivers it and the plugin template its URL follows
(tests check every template is one the plugin itself declares, and that Apprise parses each
built URL back into that plugin). Field checks reuse the plugin's own token patterns where it
has them. The raw Apprise URL stays available ("Advanced") for everything else.

One type is not Apprise: "email", another address of the person's, which our own SMTP delivers
like their account address once the address has opened its verification link.
"""
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import parse_qs, quote, urlsplit

from apprise.plugins.custom_json import NotifyJSON
from apprise.plugins.discord import NotifyDiscord
from apprise.plugins.gotify import NotifyGotify
from apprise.plugins.home_assistant import NotifyHomeAssistant
from apprise.plugins.matrix import NotifyMatrix
from apprise.plugins.ntfy import NotifyNtfy
from apprise.plugins.pushover import NotifyPushover
from apprise.plugins.signal_api import NotifySignalAPI
from apprise.plugins.slack import NotifySlack
from apprise.plugins.telegram import NotifyTelegram
from apprise.plugins.twilio import NotifyTwilio
from apprise.plugins.workflows import NotifyWorkflows

from soonish.services.accounts import normalize_email
from soonish.services.errors import ValidationFailed
from soonish.i18n import _l

FIELD_MAX = 500


@dataclass(frozen=True)
class Field:
    name: str
    label: str
    help: str = ""
    example: str = ""
    required: bool = True
    secret: bool = False
    pattern: str | None = None  # the whole value must match (case-insensitive)
    expected: str = ""  # what the error says is expected
    default: str = ""
    kind: str = "text"  # "server": an http(s) address; shown as a URL input. "email": an address


@dataclass(frozen=True)
class ChannelType:
    key: str
    label: str
    summary: str
    help_url: str  # where to get the values
    fields: tuple[Field, ...]
    plugin: type | None  # None: not delivered through Apprise (email)
    template: str  # the plugin's template this type's URLs follow
    build: Callable[[dict], str] | None = field(repr=False, compare=False)
    subscribe_link: Callable[[dict], str | None] | None = field(default=None, repr=False, compare=False)


class FieldError(Exception):
    def __init__(self, name: str, message: str) -> None:
        super().__init__(message)
        self.name = name


def _token_pattern(plugin: type, token: str) -> str:
    """The plugin's own pattern for one of its URL tokens."""
    return plugin.template_tokens[token]["regex"][0]


def _server(values: dict, name: str, secure_scheme: str, plain_scheme: str) -> tuple[str, str]:
    """(scheme, host[:port][/path]) from an http(s) server address the person pasted."""
    raw = values[name]
    parts = urlsplit(raw if "://" in raw else f"https://{raw}")
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise FieldError(name, "Give the server's address, starting with https:// (or http://).")
    try:
        port = parts.port
    except ValueError as exc:
        raise FieldError(name, "The port in this address is not a number.") from exc
    where = parts.hostname + (f":{port}" if port else "") + parts.path.rstrip("/")
    return (secure_scheme if parts.scheme == "https" else plain_scheme), where


def _webhook(values: dict, name: str, hosts: tuple[str, ...], path: str, what: str) -> list[str]:
    """The path parts after ``path`` of a webhook URL on one of ``hosts``."""
    parts = urlsplit(values[name])
    host = (parts.hostname or "").lower()
    if parts.scheme != "https" or not any(host == h or host.endswith("." + h) for h in hosts) \
            or not parts.path.startswith(path):
        raise FieldError(name, f"Paste the webhook URL {what} gives you; it starts with https://{hosts[0]}{path}")
    pieces = [p for p in parts.path[len(path):].split("/") if p]
    if not pieces:
        raise FieldError(name, f"This webhook URL is incomplete; copy it again from {what}.")
    return pieces


def _q(value: str) -> str:
    return quote(value, safe="")


# Builders --------------------------------------------------------------------------------------

def _ntfy(v: dict) -> str:
    scheme, where = _server(v, "server", "ntfys", "ntfy")
    token = f"{_q(v['token'])}@" if v.get("token") else ""
    return f"{scheme}://{token}{where}/{v['topic']}"


def _ntfy_subscribe(v: dict) -> str | None:
    """The ntfy app opens ntfy://host/topic links (and QR codes of them) as a subscription."""
    try:
        _scheme, where = _server(v, "server", "ntfys", "ntfy")
    except (FieldError, KeyError):
        return None
    return f"ntfy://{where}/{v.get('topic', '')}"


def _telegram(v: dict) -> str:
    return f"tgram://{v['bot_token'].removeprefix('bot')}/{v['chat_id']}"


def _discord(v: dict) -> str:
    pieces = _webhook(v, "webhook_url", ("discord.com", "discordapp.com"), "/api/webhooks/", "Discord")
    if len(pieces) < 2:
        raise FieldError("webhook_url", "This Discord webhook URL is missing its token; copy it again.")
    return f"discord://{pieces[0]}/{pieces[1]}"


def _slack(v: dict) -> str:
    pieces = _webhook(v, "webhook_url", ("hooks.slack.com",), "/services/", "Slack")
    if len(pieces) != 3:
        raise FieldError("webhook_url", "A Slack incoming webhook URL has three parts after /services/.")
    return "slack://{}/{}/{}".format(*pieces)


def _teams(v: dict) -> str:
    parts = urlsplit(v["webhook_url"])
    host = (parts.hostname or "").lower()
    found = re.search(r"/workflows/([A-Za-z0-9_-]+)/", parts.path)
    signature = parse_qs(parts.query).get("sig", [""])[0]
    if parts.scheme != "https" or not (host.endswith(".azure.com") or host.endswith(".environment.api.powerplatform.com")) \
            or not found or not signature:
        raise FieldError("webhook_url", "Paste the HTTP POST URL of your Power Automate / Teams workflow "
                                        "(it contains /workflows/… and sig=…).")
    port = f":{parts.port}" if parts.port else ""
    return f"workflows://{host}{port}/{found.group(1)}/{_q(signature)}"


def _matrix(v: dict) -> str:
    scheme, where = _server(v, "server", "matrixs", "matrix")
    room = v["room"]
    return f"{scheme}://{_q(v['token'])}@{where}/{_q(room)}"


def _gotify(v: dict) -> str:
    scheme, where = _server(v, "server", "gotifys", "gotify")
    return f"{scheme}://{where}/{_q(v['token'])}"


def _pushover(v: dict) -> str:
    return f"pover://{v['user_key']}@{v['token']}"


def _phone(value: str) -> str:
    return re.sub(r"[\s()-]", "", value)


def _signal(v: dict) -> str:
    scheme, where = _server(v, "server", "signals", "signal")
    return f"{scheme}://{where}/{_q(_phone(v['from_phone']))}/{_q(_phone(v['to_phone']))}"


def _twilio(v: dict) -> str:
    return (f"twilio://{v['account_sid']}:{v['auth_token']}@{_q(_phone(v['from_phone']))}"
            f"/{_q(_phone(v['to_phone']))}")


def _home_assistant(v: dict) -> str:
    scheme, where = _server(v, "server", "hassios", "hassio")
    return f"{scheme}://{where}/{_q(v['token'])}"


def _webhook_json(v: dict) -> str:
    parts = urlsplit(v["url"])
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise FieldError("url", "Give the full address that receives the POST, starting with https://.")
    scheme = "jsons" if parts.scheme == "https" else "json"
    # Apprise reads a json:// URL's query as its own options; "-name" passes one on to the target.
    query = "&".join(f"-{_q(k)}={_q(v)}" for k, values in parse_qs(parts.query).items() for v in values)
    return f"{scheme}://{parts.netloc.rsplit('@', 1)[-1]}{parts.path}" + (f"?{query}" if query else "")


PHONE = r"\+?[0-9\s()-]{6,20}"
SERVER_HELP = "The address you open in a browser, e.g. https://ntfy.sh."

CATALOGUE: tuple[ChannelType, ...] = (
    ChannelType(
        "ntfy", "ntfy", "Push notifications to your phone with the free ntfy app, no account needed.",
        "https://docs.ntfy.sh/subscribe/phone/",
        (
            Field("server", "Server", SERVER_HELP + " Use https://ntfy.sh unless you run your own.",
                  "https://ntfy.sh", default="https://ntfy.sh", expected="an http(s) address", kind="server"),
            Field("topic", "Topic", "A name only you know: anyone who knows it can read it. Letters, digits, - and _.",
                  "soonish-7f3k2q", pattern=_token_pattern(NotifyNtfy, "topic"),
                  expected="1–64 letters, digits, - or _"),
            Field("token", "Access token", "Only for protected topics on your own server.", "tk_…",
                  required=False, secret=True),
        ),
        NotifyNtfy, "{schema}://{host}/{targets}", _ntfy, _ntfy_subscribe,
    ),
    ChannelType(
        "telegram", "Telegram", "Messages from your own Telegram bot.", "https://core.telegram.org/bots/tutorial",
        (
            Field("bot_token", "Bot token", "Create a bot with @BotFather; it gives you the token.",
                  "123456789:AAE…", secret=True, pattern=_token_pattern(NotifyTelegram, "bot_token"),
                  expected="digits, a colon, then letters (as @BotFather shows it)"),
            Field("chat_id", "Chat ID", "Send your bot a message, then ask @userinfobot (or @RawDataBot in a group).",
                  "123456789", pattern=_token_pattern(NotifyTelegram, "target_user"),
                  expected="a number (groups start with -) or a @username"),
        ),
        NotifyTelegram, "{schema}://{bot_token}/{targets}", _telegram,
    ),
    ChannelType(
        "discord_webhook", "Discord (channel webhook)", "Post into a Discord channel you manage.",
        "https://support.discord.com/hc/en-us/articles/228383668-Intro-to-Webhooks",
        (Field("webhook_url", "Webhook URL", "Channel settings → Integrations → Webhooks → Copy Webhook URL.",
               "https://discord.com/api/webhooks/123/abc", secret=True, expected="a Discord webhook URL"),),
        NotifyDiscord, "{schema}://{webhook_id}/{webhook_token}", _discord,
    ),
    ChannelType(
        "slack_webhook", "Slack (incoming webhook)", "Post into a Slack channel through an incoming webhook.",
        "https://api.slack.com/messaging/webhooks",
        (Field("webhook_url", "Webhook URL", "Create a Slack app, turn on Incoming Webhooks, add one to a channel.",
               "https://hooks.slack.com/services/T000/B000/XXXX", secret=True, expected="a Slack webhook URL"),),
        NotifySlack, "{schema}://{token_a}/{token_b}/{token_c}", _slack,
    ),
    ChannelType(
        "teams", "Microsoft Teams (Power Automate)", "Post into a Teams channel through a Power Automate workflow.",
        "https://support.microsoft.com/en-us/office/create-incoming-webhooks-with-workflows-for-microsoft-teams-8ae491c7-0394-4861-ba59-055e33f75498",
        (Field("webhook_url", "Workflow URL", "In Teams: ⋯ → Workflows → “Post to a channel when a webhook request "
               "is received”; copy the URL it shows.", "https://prod-00.westus.logic.azure.com:443/workflows/…",
               secret=True, expected="a Power Automate workflow URL"),),
        NotifyWorkflows, "{schema}://{host}/{workflow}/{signature}", _teams,
    ),
    ChannelType(
        "matrix", "Matrix", "Messages into a Matrix room (Element and others).",
        "https://matrix.org/docs/older/faq/#how-do-i-get-an-access-token",
        (
            Field("server", "Homeserver", "Your homeserver's address, e.g. https://matrix.org.", "https://matrix.org",
                  default="https://matrix.org", expected="an http(s) address", kind="server"),
            Field("token", "Access token", "Element: Settings → Help & About → Access token.", "syt_…", secret=True),
            Field("room", "Room", "The room's ID or alias.", "#soonish:matrix.org", pattern=r"[!#][^\s:]+:[^\s]+",
                  expected="a room ID (!…:server) or alias (#…:server)"),
        ),
        NotifyMatrix, "{schema}://{token}@{host}/{targets}", _matrix,
    ),
    ChannelType(
        "gotify", "Gotify", "Push to your self-hosted Gotify server.", "https://gotify.net/docs/pushmsg",
        (
            Field("server", "Server", "Your Gotify server's address.", "https://gotify.example.com",
                  expected="an http(s) address", kind="server"),
            Field("token", "Application token", "Gotify → Apps → Create application; copy its token.", "A1b2C3…",
                  secret=True, pattern=r"[A-Za-z0-9._-]{5,}", expected="the app token (letters and digits)"),
        ),
        NotifyGotify, "{schema}://{host}/{token}", _gotify,
    ),
    ChannelType(
        "pushover", "Pushover", "Push to the Pushover app.", "https://pushover.net/apps/build",
        (
            Field("user_key", "User key", "Shown on your Pushover dashboard.", "uQiRzpo4DXghDmr9QzzfQu27cmVRsG",
                  secret=True, pattern=r"[A-Za-z0-9]{30}", expected="30 letters and digits"),
            Field("token", "Application token", "Create an application at pushover.net/apps/build.",
                  "azGDORePK8gMaC0QOYAMyEEuzJnyUi", secret=True, pattern=r"[A-Za-z0-9]{30}",
                  expected="30 letters and digits"),
        ),
        NotifyPushover, "{schema}://{user_key}@{token}", _pushover,
    ),
    ChannelType(
        "signal", "Signal (signal-cli REST API)", "Signal messages sent from your own signal-cli REST server.",
        "https://github.com/bbernhard/signal-cli-rest-api",
        (
            Field("server", "signal-cli REST server", "Where your signal-cli-rest-api listens.",
                  "https://signal.example.com:8080", expected="an http(s) address", kind="server"),
            Field("from_phone", "From number", "The number registered with signal-cli.", "+15551234567",
                  pattern=PHONE, expected="a phone number with country code, like +15551234567"),
            Field("to_phone", "To number", "Your own Signal number.", "+15557654321", pattern=PHONE,
                  expected="a phone number with country code, like +15557654321"),
        ),
        NotifySignalAPI, "{schema}://{host}/{from_phone}/{targets}", _signal,
    ),
    ChannelType(
        "sms_twilio", "SMS (Twilio)", "Text messages through your Twilio account.", "https://console.twilio.com/",
        (
            Field("account_sid", "Account SID", "Twilio console → Account info.", "AC0123…",
                  pattern=_token_pattern(NotifyTwilio, "account_sid"), expected="AC followed by hex digits"),
            Field("auth_token", "Auth token", "Twilio console → Account info.", "0123abcd…", secret=True,
                  pattern=_token_pattern(NotifyTwilio, "auth_token"), expected="letters and digits"),
            Field("from_phone", "From number", "A number you bought in Twilio.", "+15551234567", pattern=PHONE,
                  expected="a phone number with country code"),
            Field("to_phone", "To number", "Your mobile number.", "+15557654321", pattern=PHONE,
                  expected="a phone number with country code"),
        ),
        NotifyTwilio, "{schema}://{account_sid}:{auth_token}@{from_phone}/{targets}", _twilio,
    ),
    ChannelType(
        "home_assistant", "Home Assistant", "A persistent notification in your Home Assistant.",
        "https://developers.home-assistant.io/docs/auth_api/#long-lived-access-token",
        (
            Field("server", "Home Assistant address", "e.g. https://home.example.com:8123", "https://home.example.com:8123",
                  expected="an http(s) address", kind="server"),
            Field("token", "Long-lived access token", "Your profile → Security → Long-lived access tokens → Create.",
                  "eyJ0eXAi…", secret=True),
        ),
        NotifyHomeAssistant, "{schema}://{host}/{accesstoken}", _home_assistant,
    ),
    ChannelType(
        "webhook", "Webhook (JSON)", "A JSON POST to any URL you run (Zapier, n8n, your own app).",
        "https://github.com/caronc/apprise/wiki/Notify_Custom_JSON",
        (Field("url", "URL", "Where to POST; include any secret path or query.", "https://hooks.example.com/soonish",
               secret=True, expected="an http(s) URL"),),
        NotifyJSON, "{schema}://{host}", _webhook_json,
    ),
)
EMAIL = ChannelType(
    "email", "Email (another address)", "Updates at another address of yours, e.g. at work. We mail it a link "
    "first; it gets nothing until the link is opened.", "",
    (Field("address", "Email address", "The address to send updates to. It has to open the link we mail it.",
           "you@work.example", expected="an email address like you@work.example", kind="email"),),
    None, "", None,
)
# Every type a person can pick: the Apprise catalogue, then email.
TYPES: tuple[ChannelType, ...] = CATALOGUE + (EMAIL,)
BY_KEY = {channel_type.key: channel_type for channel_type in TYPES}


def get_type(key: str) -> ChannelType:
    if key not in BY_KEY:
        raise ValidationFailed.field("type", _l("Unknown channel type; choose one of: %(choices)s.", choices=", ".join(BY_KEY)))
    return BY_KEY[key]


def build_url(key: str, raw: dict | None) -> str:
    """The Apprise URL for a catalogue type's field values; a ValidationFailed naming every bad
    field (as ``fields.<name>``) when they don't fit."""
    channel_type = get_type(key)
    values = clean_fields(key, raw)
    try:
        return channel_type.build(values)
    except FieldError as exc:
        raise ValidationFailed(_l("Some fields need attention."), {f"fields.{exc.name}": [str(exc)]}) from exc


def clean_fields(key: str, raw: dict | None) -> dict[str, str]:
    """A type's field values, trimmed and checked (an email address normalized); a
    ValidationFailed naming every bad field (as ``fields.<name>``) when they don't fit."""
    channel_type = get_type(key)
    raw = raw if isinstance(raw, dict) else {}
    values, errors = {}, {}
    known = {f.name for f in channel_type.fields}
    for name in raw:
        if name not in known:
            errors[f"fields.{name}"] = [_l("%(channel)s has no field “%(field)s”.", channel=channel_type.label, field=name)]
    for spec in channel_type.fields:
        value = raw.get(spec.name)
        value = "" if value is None else str(value).strip()
        if not value:
            if spec.required:
                errors[f"fields.{spec.name}"] = [_l("%(field)s is required: %(expected)s.", field=spec.label, expected=spec.expected)
                                                 if spec.expected else _l("%(field)s is required.", field=spec.label)]
            continue
        if len(value) > FIELD_MAX:
            errors[f"fields.{spec.name}"] = [_l("%(field)s is too long (up to %(count)s characters).", field=spec.label,
                                                count=FIELD_MAX)]
        elif spec.pattern and not re.fullmatch(spec.pattern, value, re.IGNORECASE):
            errors[f"fields.{spec.name}"] = [_l("%(field)s doesn't look right: expected %(expected)s.", field=spec.label,
                                                expected=spec.expected or _l("another format"))]
        elif spec.kind == "server":
            try:
                _server({spec.name: value}, spec.name, "", "")
            except FieldError as exc:
                errors[f"fields.{spec.name}"] = [str(exc)]
        elif spec.kind == "email":
            try:
                value = normalize_email(value)
            except ValidationFailed as exc:
                errors[f"fields.{spec.name}"] = [_l("%(field)s doesn't look right: %(reason)s", field=spec.label,
                                                    reason=exc.message)]
        values[spec.name] = value
    if errors:
        raise ValidationFailed(_l("Some fields need attention."), errors)
    return values


def subscribe_link(key: str, raw: dict) -> str | None:
    channel_type = BY_KEY.get(key)
    if channel_type is None or channel_type.subscribe_link is None:
        return None
    return channel_type.subscribe_link({k: str(v).strip() for k, v in (raw or {}).items()})


def describe(channel_type: ChannelType) -> dict:
    """The catalogue entry as the API and the Channels page show it."""
    return {
        "type": channel_type.key,
        "label": channel_type.label,
        "summary": channel_type.summary,
        "help_url": channel_type.help_url,
        "fields": [
            {"name": f.name, "label": f.label, "help": f.help, "example": f.example, "required": f.required,
             "secret": f.secret, "pattern": f.pattern, "expected": f.expected, "default": f.default,
             "kind": f.kind, "max_length": FIELD_MAX}
            for f in channel_type.fields
        ],
    }
