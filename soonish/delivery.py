"""Sends messages to destinations: the fast paths and Apprise's long tail.

A ``Courier`` lives for one batch and reuses its connections: one pooled HTTP client for
webhooks (``json://``, ``form://``) and for our Slack and Discord bots' web APIs, one SMTP
connection for mail to addresses, and one Apprise plugin object per URL with Apprise's
per-object throttle turned off. Every message carries a stable delivery key (``Idempotency-Key``
header, ``Message-ID``, Discord's message nonce) so a receiver can drop the rare repeat that a
crash in mid-send can cause.

Errors never carry a URL: integration URLs hold credentials.
"""
import asyncio
import json
import logging
import smtplib
import ssl
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from email.charset import QP, Charset
from email.policy import compat32
from email.header import Header
from email.message import EmailMessage
from email.message import Message as MimeMessage
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.utils import formataddr, formatdate, parseaddr
from pathlib import Path
from urllib.parse import urlsplit

import aiohttp
import apprise
from apprise.plugins.custom_form import NotifyForm
from apprise.plugins.custom_json import NotifyJSON

from . import chat_buttons
from .netguard import GuardedResolver, PrivateTargetRefused, check_host

log = logging.getLogger(__name__)
# Apprise's debug lines echo parsed URLs, credentials included: never let them through.
logging.getLogger("apprise").setLevel(logging.WARNING)

HTTP_TIMEOUT_SECONDS = 15
# Discord drops a second message with the same nonce (up to 25 characters) for a few minutes.
DISCORD_NONCE_MAX = 25
DISCORD_MESSAGE_MAX = 2000
# Slack's errors that heal by retrying; any other `"ok": false` answer is final.
SLACK_TRANSIENT_ERRORS = {"ratelimited", "internal_error", "fatal_error", "service_unavailable", "request_timeout"}
# Apprise's own fields of a json:// or form:// payload.
APPRISE_PAYLOAD_VERSION = "1.0"


@dataclass(frozen=True)
class Message:
    delivery_key: str
    title: str
    text: str  # full plain text (mail body)
    short: str  # a few lines for chat and push
    html: str | None = None
    notify_type: str = "info"  # Apprise's info / warning / failure / success
    unsubscribe_url: str | None = None  # one-click (RFC 8058) for mail
    extra: dict = field(default_factory=dict)  # machine-readable fields for webhooks
    rsvp_event_id: int | None = None  # chat posts get Going / Maybe / Can't go buttons for this event


@dataclass(frozen=True)
class ChatAddress:
    """Where our bot posts: a person's DM (their user id) or a channel (its id)."""

    platform: str  # "slack" | "discord"
    recipient: str
    is_channel: bool = False


@dataclass(frozen=True)
class Destination:
    """Exactly one of: a plain email address (our SMTP), an Apprise URL (a secret), or a chat
    address our bot posts to."""

    email: str | None = None
    apprise_url: str | None = None
    chat: ChatAddress | None = None


@dataclass(frozen=True)
class ChatSettings:
    """The bots' tokens and the platforms' API roots (tests point these at fakes on loopback)."""

    slack_bot_token: str = ""
    slack_api_url: str = "https://slack.com/api/"
    discord_bot_token: str = ""
    discord_api_url: str = "https://discord.com/api/v10"

    @classmethod
    def from_config(cls, config) -> "ChatSettings":
        return cls(
            slack_bot_token=config["SLACK_BOT_TOKEN"], slack_api_url=config["SLACK_API_URL"],
            discord_bot_token=config["DISCORD_BOT_TOKEN"], discord_api_url=config["DISCORD_API_URL"],
        )


class DeliveryFailed(Exception):
    """A send that did not happen. ``permanent`` ones are not retried. The text is safe to store."""

    def __init__(self, reason: str, permanent: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.permanent = permanent


@dataclass(frozen=True)
class MailSettings:
    sender: str
    host: str = ""  # empty: write to outbox_dir instead of sending
    port: int = 587
    username: str = ""
    password: str = ""
    starttls: bool = True
    use_ssl: bool = False
    timeout: float = 20
    outbox_dir: str = ""

    @classmethod
    def from_config(cls, config, outbox_dir: str) -> "MailSettings":
        return cls(
            sender=config["MAIL_FROM"], host=config["SMTP_HOST"], port=int(config["SMTP_PORT"]),
            username=config["SMTP_USERNAME"], password=config["SMTP_PASSWORD"],
            starttls=bool(config["SMTP_STARTTLS"]), use_ssl=bool(config["SMTP_SSL"]),
            timeout=float(config["SMTP_TIMEOUT"]), outbox_dir=outbox_dir,
        )


# The fast-path schemes, parsed by their own plugin class directly: the same parse and the same
# plugin object as Apprise.instantiate, without its per-call costs (a fresh AppriseAsset, the
# plugin lookup, and masking the URL for a log line nobody sees), ≈300 µs → ≈50 µs a URL.
_DIRECT_PLUGINS = {"json": NotifyJSON, "jsons": NotifyJSON, "form": NotifyForm, "forms": NotifyForm}
_SHARED_ASSET = apprise.AppriseAsset()


def _parse_direct(url: str):
    plugin_class = _DIRECT_PLUGINS.get(url.split("://", 1)[0].lower()) if "://" in url else None
    if plugin_class is None:
        return None
    try:
        results = plugin_class.parse_url(url.replace("/#", "/%23"))
        if not results:
            return None
        results.update(tag=set(), asset=_SHARED_ASSET)
        plugin = plugin_class(**results)
    except Exception:
        return None
    return plugin if plugin.enabled else None


def parse_apprise_url(url: str):
    """The Apprise plugin for ``url``, or None when Apprise does not understand it."""
    plugin = _parse_direct(url)
    if plugin is not None:
        return plugin
    try:  # everything else, and anything the direct parse refused (Apprise logs why, masked)
        return apprise.Apprise.instantiate(url, suppress_exceptions=True) or None
    except Exception:  # Apprise raises various types for odd input
        return None


def connect_host(plugin) -> str | None:
    """The host a plugin will connect to, when the URL chooses it (SMTP server, webhook host)."""
    return getattr(plugin, "smtp_host", None) or getattr(plugin, "host", None)


def mask_url(url: str) -> str:
    """Scheme and host only: what may be shown back to the user."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname or ''}"


_UTF8_QP = Charset("utf-8")
_UTF8_QP.header_encoding = _UTF8_QP.body_encoding = QP
_MAX_7BIT_LINE = 78  # what EmailMessage's default policy sends as 7bit
# compat32 would fold a long header as "Name: \r\n <value>", which parses back with a leading
# space; fold only past SMTP's hard line limit instead (encoded words still fold at 76).
_FAST_POLICY = compat32.clone(max_line_length=998)


def _text_part(body: str, subtype: str) -> MIMEText:
    body = "\n".join(body.splitlines()) + "\n"  # as EmailMessage.set_content stores it
    if body.isascii() and all(len(line) <= _MAX_7BIT_LINE for line in body.splitlines()):
        part = MIMEText(body, subtype, "us-ascii")
    else:
        part = MIMEText(body, subtype, _UTF8_QP)
    del part["MIME-Version"]
    return part


def _fast_mail(message: Message, sender: str, to: str) -> MimeMessage | None:
    """The same mail as ``_full_mail`` built with the email package's compat32 classes, which
    store headers as given instead of parsing each one (≈0.2 ms instead of ≈1.1 ms a mail).
    Only for plain input: ASCII addresses, no line breaks in any header value; otherwise None."""
    sender_name, sender_address = parseaddr(sender)
    headers = [message.title, message.delivery_key, message.unsubscribe_url or "", sender_name]
    if not (sender_address.isascii() and "@" in sender_address and to.isascii()) or any(
        "\r" in value or "\n" in value for value in headers + [sender, to]
    ):
        return None
    if message.html:
        mail = MIMEMultipart("alternative", policy=_FAST_POLICY)  # it carries MIME-Version
        mail.attach(_text_part(message.text, "plain"))
        mail.attach(_text_part(message.html, "html"))
    else:
        mail = _text_part(message.text, "plain")
        mail.policy = _FAST_POLICY
        mail["MIME-Version"] = "1.0"
    mail["From"] = formataddr((sender_name, sender_address), charset="utf-8")
    mail["To"] = to
    mail["Subject"] = message.title if message.title.isascii() else Header(message.title, _UTF8_QP)
    mail["Date"] = formatdate(localtime=False)
    sender_domain = sender_address.rsplit("@", 1)[-1] or "soonish.localhost"
    mail["Message-ID"] = f"<{message.delivery_key}@{sender_domain}>"
    mail["X-Soonish-Delivery"] = message.delivery_key
    if message.unsubscribe_url:
        mail["List-Unsubscribe"] = f"<{message.unsubscribe_url}>"
        mail["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    return mail


def compose_mail(message: Message, sender: str, to: str) -> EmailMessage | MimeMessage:
    """The mail for ``message``: text, and HTML when there is some, with a stable Message-ID."""
    return _fast_mail(message, sender, to) or _full_mail(message, sender, to)


def _full_mail(message: Message, sender: str, to: str) -> EmailMessage:
    mail = EmailMessage()
    mail["From"] = sender
    mail["To"] = to
    mail["Subject"] = message.title
    mail["Date"] = formatdate(localtime=False)
    sender_domain = sender.rsplit("@", 1)[-1].rstrip(">") or "soonish.localhost"
    # Stable per delivery: a repeat after a crash carries the same id and is dropped.
    mail["Message-ID"] = f"<{message.delivery_key}@{sender_domain}>"
    mail["X-Soonish-Delivery"] = message.delivery_key
    if message.unsubscribe_url:
        mail["List-Unsubscribe"] = f"<{message.unsubscribe_url}>"
        mail["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    mail.set_content(message.text)
    if message.html:
        mail.add_alternative(message.html, subtype="html")
    return mail


class _SmtpConnection:
    """One SMTP connection, opened on first use and reused; sends run on a worker thread."""

    def __init__(self, settings: MailSettings) -> None:
        self.settings = settings
        self._smtp: smtplib.SMTP | None = None
        self._lock = threading.Lock()
        # Its own thread: queued sends wait here in order, instead of each holding one of the
        # event loop's few default threads while it waits for the lock (which starved the
        # batches' ledger writes, queued on those same threads).
        self._thread: ThreadPoolExecutor | None = None

    async def send_async(self, mail: EmailMessage | MimeMessage) -> None:
        if self._thread is None:
            self._thread = ThreadPoolExecutor(1, thread_name_prefix="smtp")
        await asyncio.get_running_loop().run_in_executor(self._thread, self.send, mail)

    async def close_async(self) -> None:
        if self._thread is None:
            self.close()
            return
        await asyncio.get_running_loop().run_in_executor(self._thread, self.close)
        self._thread.shutdown(wait=False)
        self._thread = None

    def _open(self) -> smtplib.SMTP:
        s = self.settings
        if s.use_ssl:
            smtp = smtplib.SMTP_SSL(s.host, s.port, timeout=s.timeout, context=ssl.create_default_context())
        else:
            smtp = smtplib.SMTP(s.host, s.port, timeout=s.timeout)
            if s.starttls and smtp.has_extn("starttls"):
                smtp.starttls(context=ssl.create_default_context())
        if s.username:
            smtp.login(s.username, s.password)
        return smtp

    def send(self, mail: EmailMessage | MimeMessage) -> None:
        with self._lock:
            for attempt in (1, 2):
                if self._smtp is None:
                    self._smtp = self._open()
                try:
                    self._smtp.send_message(mail)
                    return
                except smtplib.SMTPServerDisconnected:
                    # The server closed an idle connection: reconnect once.
                    self._smtp = None
                    if attempt == 2:
                        raise

    def close(self) -> None:
        with self._lock:
            if self._smtp is not None:
                try:
                    self._smtp.quit()
                except (smtplib.SMTPException, OSError):
                    pass
                self._smtp = None


def write_to_outbox(outbox_dir: str, mail: EmailMessage | MimeMessage) -> Path:
    folder = Path(outbox_dir)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{uuid.uuid4().hex}.eml"
    path.write_bytes(bytes(mail))
    return path


def send_mail_now(settings: MailSettings, mail: EmailMessage | MimeMessage) -> None:
    """Send one mail on its own connection (or to the outbox), outside any batch."""
    if not settings.host:
        write_to_outbox(settings.outbox_dir, mail)
        return
    connection = _SmtpConnection(settings)
    try:
        connection.send(mail)
    finally:
        connection.close()


def http_pool(allow_private: bool, connections: int) -> aiohttp.ClientSession:
    """A pooled HTTP client for webhooks and the chat APIs. The SSRF guard resolves every host
    it connects to; connections stay open for the next message to the same receiver."""
    return aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=connections, resolver=GuardedResolver(allow_private)),
        timeout=aiohttp.ClientTimeout(total=HTTP_TIMEOUT_SECONDS),
    )


class Courier:
    """Delivers messages for one batch; use as ``async with Courier(...) as courier``. Given an
    ``http`` pool it sends through it (and leaves it open); otherwise it opens one of its own."""

    def __init__(self, mail: MailSettings, allow_private: bool, http: aiohttp.ClientSession | None = None,
                 chat: ChatSettings = ChatSettings()) -> None:
        self.mail = mail
        self.allow_private = allow_private
        self.chat = chat
        self._given_http = http
        self._http = http
        self._smtp = _SmtpConnection(mail) if mail.host else None
        self._plugins: dict[str, object] = {}
        self._discord_dms: dict[str, str] = {}  # user id -> their DM channel id

    async def __aenter__(self) -> "Courier":
        if self._http is None:
            self._http = http_pool(self.allow_private, connections=1)
        return self

    async def __aexit__(self, *exc) -> None:
        if self._http is not None and self._http is not self._given_http:
            await self._http.close()
        if self._smtp is not None:
            await self._smtp.close_async()

    async def send(self, destination: Destination, message: Message) -> None:
        if destination.email:
            await self._send_mail(destination.email, message)
            return
        if destination.chat:
            if destination.chat.platform == "slack":
                await self._post_slack(destination.chat, message)
            else:
                await self._post_discord(destination.chat, message)
            return
        plugin = self._plugin(destination.apprise_url or "")
        try:
            check_host(connect_host(plugin), self.allow_private)
        except PrivateTargetRefused as exc:
            raise DeliveryFailed(str(exc), permanent=True) from exc
        if isinstance(plugin, (NotifyJSON, NotifyForm)) and plugin.method == "POST":
            await self._post_webhook(plugin, message)
        else:
            await self._send_with_apprise(plugin, message)

    def _plugin(self, url: str):
        if url not in self._plugins:
            plugin = parse_apprise_url(url)
            if plugin is None:
                raise DeliveryFailed("the channel's URL is no longer understood", permanent=True)
            # Apprise sleeps between sends through one object unless told not to.
            plugin.request_rate_per_sec = 0
            self._plugins[url] = plugin
        return self._plugins[url]

    async def _send_mail(self, address: str, message: Message) -> None:
        mail = compose_mail(message, self.mail.sender, address)
        if self._smtp is None:
            await asyncio.to_thread(write_to_outbox, self.mail.outbox_dir, mail)
            return
        try:
            await self._smtp.send_async(mail)
        except smtplib.SMTPRecipientsRefused as exc:
            raise DeliveryFailed(f"the mail server refused {address}", permanent=True) from exc
        except smtplib.SMTPResponseException as exc:
            permanent = 500 <= exc.smtp_code < 600
            raise DeliveryFailed(f"mail server answered {exc.smtp_code}", permanent=permanent) from exc
        except (smtplib.SMTPException, OSError) as exc:
            raise DeliveryFailed(f"mail server unreachable ({type(exc).__name__})") from exc

    async def _post_webhook(self, plugin, message: Message) -> None:
        """What Apprise's json:// and form:// plugins send, on a pooled connection."""
        payload = {
            "version": APPRISE_PAYLOAD_VERSION,
            "title": message.title,
            "message": message.short,
            "type": message.notify_type,
        }
        for key, value in plugin.payload_extras.items():
            if key in payload:  # Apprise's rule: an extra named like a field renames or drops it
                original = payload.pop(key)
                if value:
                    payload[value] = original
            else:
                payload[key] = value
        headers = {"User-Agent": "Soonish", "Idempotency-Key": message.delivery_key, **plugin.headers}
        if isinstance(plugin, NotifyJSON):
            payload["attachments"] = []
            payload["soonish"] = {"delivery_key": message.delivery_key, **message.extra}
            body = {"data": json.dumps(payload), "headers": {**headers, "Content-Type": "application/json"}}
        else:
            body = {"data": payload, "headers": headers}
        scheme = "https" if plugin.secure else "http"
        port = f":{plugin.port}" if isinstance(plugin.port, int) else ""
        url = f"{scheme}://{plugin.host}{port}{plugin.fullpath}"
        auth = aiohttp.BasicAuth(plugin.user, plugin.password or "") if plugin.user else None
        where = f"{scheme}://{plugin.host}"
        try:
            async with self._http.post(
                url, params=plugin.params or None, auth=auth, ssl=plugin.verify_certificate, **body
            ) as response:
                await response.read()
                status = response.status
        except PrivateTargetRefused as exc:
            raise DeliveryFailed(str(exc), permanent=True) from exc
        except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
            raise DeliveryFailed(f"{where} unreachable ({type(exc).__name__})") from exc
        if status >= 300:
            # A client error will not heal by retrying, except "too many" and "timeout".
            permanent = 400 <= status < 500 and status not in (408, 429)
            raise DeliveryFailed(f"{where} answered HTTP {status}", permanent=permanent)

    async def _send_with_apprise(self, plugin, message: Message) -> None:
        ok = await asyncio.to_thread(
            plugin.notify, body=message.short, title=message.title, notify_type=message.notify_type
        )
        if not ok:
            raise DeliveryFailed(f"{mask_url(plugin.url(privacy=True))} did not accept the message")

    async def _call_chat_api(self, platform: str, url: str, token: str, payload: dict) -> dict:
        """POST ``payload`` to one of our bots' web APIs; the answer's JSON, or DeliveryFailed."""
        if not token:
            raise DeliveryFailed(f"the {platform} bot is not configured", permanent=True)
        scheme = "Bearer" if platform == "Slack" else "Bot"
        headers = {"Authorization": f"{scheme} {token}", "User-Agent": "Soonish"}
        try:
            async with self._http.post(url, json=payload, headers=headers) as response:
                status = response.status
                body = await response.json(content_type=None) if status < 300 else None
        except PrivateTargetRefused as exc:
            raise DeliveryFailed(str(exc), permanent=True) from exc
        except (aiohttp.ClientError, asyncio.TimeoutError, ValueError) as exc:
            raise DeliveryFailed(f"{platform} unreachable ({type(exc).__name__})") from exc
        if status >= 300:
            # Missing access, an unknown user, DMs closed: retrying won't help. Rate limits will.
            permanent = 400 <= status < 500 and status not in (408, 429)
            raise DeliveryFailed(f"{platform} answered HTTP {status}", permanent=permanent)
        return body if isinstance(body, dict) else {}

    async def _post_slack(self, address: ChatAddress, message: Message) -> None:
        """chat.postMessage; a user id as the channel posts in the bot's DM with that user."""
        url = self.chat.slack_api_url.rstrip("/") + "/chat.postMessage"
        payload = {
            "channel": address.recipient, "text": message.short, "unfurl_links": False,
            "metadata": {"event_type": "soonish_delivery", "event_payload": {"delivery_key": message.delivery_key}},
        }
        if message.rsvp_event_id is not None:
            payload["blocks"] = chat_buttons.slack_blocks(message.short, message.rsvp_event_id)
        answer = await self._call_chat_api("Slack", url, self.chat.slack_bot_token, payload)
        if not answer.get("ok"):
            error = str(answer.get("error", "unknown_error"))[:100]
            raise DeliveryFailed(f"Slack answered {error}", permanent=error not in SLACK_TRANSIENT_ERRORS)

    async def _post_discord(self, address: ChatAddress, message: Message) -> None:
        """Create-message in the channel, or in the person's DM channel (created, or found, first)."""
        root, token = self.chat.discord_api_url.rstrip("/"), self.chat.discord_bot_token
        channel_id = address.recipient
        if not address.is_channel:
            if address.recipient not in self._discord_dms:
                dm = await self._call_chat_api("Discord", f"{root}/users/@me/channels", token,
                                               {"recipient_id": address.recipient})
                if "id" not in dm:
                    raise DeliveryFailed("Discord opened no DM channel")
                self._discord_dms[address.recipient] = str(dm["id"])
            channel_id = self._discord_dms[address.recipient]
        payload = {
            "content": message.short[:DISCORD_MESSAGE_MAX],
            "nonce": message.delivery_key[:DISCORD_NONCE_MAX],
            "enforce_nonce": True,
            "allowed_mentions": {"parse": []},  # an announcement never pings @everyone
        }
        if message.rsvp_event_id is not None:
            payload["components"] = chat_buttons.discord_components(message.rsvp_event_id)
        await self._call_chat_api("Discord", f"{root}/channels/{channel_id}/messages", token, payload)
