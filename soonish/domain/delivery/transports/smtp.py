"""Mail to plain addresses through our SMTP server: one connection per batch, reused, on a
thread of its own; or, with no server configured, .eml files in the outbox folder."""
import asyncio
import io
import smtplib
import ssl
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from email.generator import BytesGenerator
from email.message import EmailMessage
from email.message import Message as MimeMessage
from email.utils import parseaddr
from pathlib import Path

from soonish.domain.mail_reputation import mailbox_provider, return_path
from soonish.domain.delivery.mail_signing import dkim_sign
from soonish.domain.delivery.mail import compose_mail
from soonish.domain.delivery.pacing import MAX_WAITS_PER_REQUEST, Answer
from soonish.domain.delivery.types import MailSettings
from soonish.domain.messages import Message
from soonish.domain.delivery.transports.base import SENT, Failed, Outcome, RetryAfter, Transport, TransportContext, TransportKind, register

# The server's "not now": service closing (421), mailbox busy (450), local error (451), out
# of storage (452). The mail is sent again after a pause, and is not a failure.
SMTP_TEMPORARY_CODES = {421, 450, 451, 452}


@dataclass(frozen=True)
class Envelope:
    """A mail as it goes to the server: who it is from (the return path bounces go to) and to."""

    sender: str
    recipient: str
    mail: EmailMessage | MimeMessage


def envelope(settings: MailSettings, mail: EmailMessage | MimeMessage, delivery_key: str, to: str) -> Envelope:
    """``mail`` to ``to`` with its return path: VERP when a bounce domain is set."""
    if settings.bounce_domain:
        sender = return_path(settings.return_path_secret, settings.bounce_domain, delivery_key, to)
    else:
        sender = parseaddr(settings.sender)[1]
    return Envelope(sender, to, mail)


def signed_bytes(mail: EmailMessage | MimeMessage, key) -> bytes:
    """The mail as sent (CRLF line ends) with its DKIM signature: a signature covers the exact
    bytes, so they are sent as they were signed."""
    buffer = io.BytesIO()
    BytesGenerator(buffer).flatten(mail, linesep="\r\n")
    return dkim_sign(buffer.getvalue(), key)


@dataclass(frozen=True)
class _ProviderLater:
    """A mailbox provider said "try later" for a recipient: its budget is held, and the send
    waits for it off the connection."""

    later: RetryAfter


class SmtpConnection:
    """One SMTP connection, opened on first use and reused; sends run on a worker thread."""

    def __init__(self, settings: MailSettings) -> None:
        self.settings = settings
        self._smtp: smtplib.SMTP | None = None
        self._sent_on_connection = 0
        self._lock = threading.Lock()
        # Its own thread: queued sends wait here in order, instead of each holding one of the
        # event loop's few default threads while it waits for the lock (which starved the
        # batches' ledger writes, queued on those same threads).
        self._thread: ThreadPoolExecutor | None = None

    async def send_async(self, mail: Envelope) -> None:
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

    def send(self, mail: Envelope) -> None:
        with self._lock:
            limit = self.settings.messages_per_connection
            if limit and self._sent_on_connection >= limit:
                # The server takes this many per connection (then answers 421): start a new one.
                self._quit()
            for attempt in (1, 2):
                if self._smtp is None:
                    self._smtp = self._open()
                    self._sent_on_connection = 0
                try:
                    if self.settings.dkim is None:
                        self._smtp.send_message(mail.mail, from_addr=mail.sender, to_addrs=[mail.recipient])
                    else:  # signed here, on the connection's thread: RSA takes milliseconds
                        self._smtp.sendmail(mail.sender, [mail.recipient], signed_bytes(mail.mail, self.settings.dkim))
                    self._sent_on_connection += 1
                    return
                except smtplib.SMTPServerDisconnected:
                    # The server closed an idle connection: reconnect once.
                    self._smtp = None
                    if attempt == 2:
                        raise

    def close(self) -> None:
        with self._lock:
            self._quit()

    def _quit(self) -> None:
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


@register
class SmtpTransport(Transport):
    kind = TransportKind.EMAIL

    def __init__(self, context: TransportContext) -> None:
        super().__init__(context)
        self._smtp = SmtpConnection(context.mail) if context.mail.host else None
        # The connection sends one mail at a time: a send takes its budget turn when the
        # connection is free, not long before (a turn taken while 49 mails queue ahead would
        # reach the server late, in its next second, beside that second's own).
        self._connection_free = asyncio.Lock()

    async def send(self, address: str, message: Message) -> Outcome:
        settings = self.context.mail
        mail = compose_mail(message, settings.sender, address)
        if self._smtp is None:
            await asyncio.to_thread(write_to_outbox, settings.outbox_dir, mail)
            return SENT
        pacer = self.context.pacer
        wait = pacer.settings.smtp_temporary_wait
        outgoing = envelope(settings, mail, message.delivery_key, address)

        async def request() -> Answer:
            try:
                await self._smtp.send_async(outgoing)
            except smtplib.SMTPRecipientsRefused as exc:
                replies = list(exc.recipients.values())
                codes = {code for code, _ in replies}
                if codes <= SMTP_TEMPORARY_CODES:
                    # "Try later" for this recipient (Gmail's 421 4.7.28, 450 4.7.1): its
                    # provider's budget waits, not the whole server's, and not on the connection.
                    later = RetryAfter(wait, f"mail server answered {min(codes)}")
                    return Answer(_ProviderLater(later) if len(budgets) > 1 else later, holds=[(budgets[0].key, wait)])
                code, text = replies[0]
                return Answer(Failed(f"the mail server refused {address}", permanent=True,
                                     mail_reply=_reply(code, text)))
            except smtplib.SMTPResponseException as exc:
                if exc.smtp_code in SMTP_TEMPORARY_CODES:  # the server itself is busy: all of it waits
                    return Answer(RetryAfter(wait, f"mail server answered {exc.smtp_code}"),
                                  holds=[(server.key, wait)])
                permanent = 500 <= exc.smtp_code < 600
                return Answer(Failed(f"mail server answered {exc.smtp_code}", permanent=permanent,
                                     mail_reply=_reply(exc.smtp_code, exc.smtp_error) if permanent else ""))
            except (smtplib.SMTPException, OSError) as exc:
                return Answer(Failed(f"mail server unreachable ({type(exc).__name__})"))
            return Answer(SENT)

        server = pacer.budget(f"smtp:{settings.host.lower()}", pacer.settings.smtp_host, "the mail server")
        budgets = [server]
        provider = mailbox_provider(address)
        if provider is not None:  # narrowest first: a held provider does not use up the server's turn
            limit = dict(pacer.settings.mailbox_providers).get(provider)
            if limit:
                budgets.insert(0, pacer.budget(f"mailbox:{provider}", limit, provider.capitalize()))
        for _ in range(MAX_WAITS_PER_REQUEST):
            if len(budgets) > 1:  # a provider's hold waits here, not on the connection the others share
                await pacer.wait_unheld(budgets[0])
            async with self._connection_free:
                result = await pacer.send(budgets, request)
            if not isinstance(result, _ProviderLater):
                return result
        return result.later

    async def close(self) -> None:
        if self._smtp is not None:
            await self._smtp.close_async()


def _reply(code: int, text: bytes | str) -> str:
    """A refusal as the suppression list reads it: "550 5.1.1 <ann@example.com>: user unknown"."""
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    return f"{code} {' '.join(text.split())}"[:300]
