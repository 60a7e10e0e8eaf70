"""Mail to plain addresses through our SMTP server: one connection per batch, reused, on a
thread of its own; or, with no server configured, .eml files in the outbox folder."""
import asyncio
import smtplib
import ssl
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from email.message import EmailMessage
from email.message import Message as MimeMessage
from pathlib import Path

from soonish.domain.delivery.mail import compose_mail
from soonish.domain.delivery.pacing import Answer
from soonish.domain.delivery.types import MailSettings
from soonish.domain.messages import Message
from soonish.domain.delivery.transports.base import SENT, Failed, Outcome, RetryAfter, Transport, TransportContext, TransportKind, register

# The server's "not now": service closing (421), mailbox busy (450), local error (451), out
# of storage (452). The mail is sent again after a pause, and is not a failure.
SMTP_TEMPORARY_CODES = {421, 450, 451, 452}


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
            limit = self.settings.messages_per_connection
            if limit and self._sent_on_connection >= limit:
                # The server takes this many per connection (then answers 421): start a new one.
                self._quit()
            for attempt in (1, 2):
                if self._smtp is None:
                    self._smtp = self._open()
                    self._sent_on_connection = 0
                try:
                    self._smtp.send_message(mail)
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


def send_mail_now(settings: MailSettings, mail: EmailMessage | MimeMessage) -> None:
    """Send one mail on its own connection (or to the outbox), outside any batch."""
    if not settings.host:
        write_to_outbox(settings.outbox_dir, mail)
        return
    connection = SmtpConnection(settings)
    try:
        connection.send(mail)
    finally:
        connection.close()


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

        async def request() -> Answer:
            try:
                await self._smtp.send_async(mail)
            except smtplib.SMTPRecipientsRefused as exc:
                codes = {code for code, _ in exc.recipients.values()}
                if codes <= SMTP_TEMPORARY_CODES:
                    return Answer(RetryAfter(wait, f"mail server answered {min(codes)}"))
                return Answer(Failed(f"the mail server refused {address}", permanent=True))
            except smtplib.SMTPResponseException as exc:
                if exc.smtp_code in SMTP_TEMPORARY_CODES:
                    return Answer(RetryAfter(wait, f"mail server answered {exc.smtp_code}"))
                return Answer(Failed(f"mail server answered {exc.smtp_code}", permanent=500 <= exc.smtp_code < 600))
            except (smtplib.SMTPException, OSError) as exc:
                return Answer(Failed(f"mail server unreachable ({type(exc).__name__})"))
            return Answer(SENT)

        budget = pacer.budget(f"smtp:{settings.host.lower()}", pacer.settings.smtp_host, "the mail server")
        async with self._connection_free:
            return await pacer.send([budget], request)

    async def close(self) -> None:
        if self._smtp is not None:
            await self._smtp.close_async()
