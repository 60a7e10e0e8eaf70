"""The SMTP listener for the bounce domain (the MX of SOONISH_BOUNCE_DOMAIN), run by `soonish mail-in`.

Takes mail for our return paths (``bounces+<ref>-<signature>@<BOUNCE_DOMAIN>``) and for the
address registered with feedback loops (``feedback@<BOUNCE_DOMAIN>``); anything else is refused
at RCPT. Reads each as a bounce, a complaint or neither (``domain.bounces``), and records what it
says about the delivery its return path names, or (a feedback report whose copy of the mail lost
its return path) its Message-ID (``services.mail_webhooks.take_mailed_report``). A report whose
path is forged is taken (250) and ignored: an answer must not tell a prober which paths are real.
"""
import asyncio
import logging

from aiosmtpd.controller import Controller
from flask import Flask

from soonish.domain import mail_reputation
from soonish.domain.bounces import parse_bounce
from soonish.services import mail_webhooks

log = logging.getLogger(__name__)

# A bounce quotes the returned mail, ours are small: anything larger is no bounce of ours.
MAX_REPORT_BYTES = 2 * 1024 * 1024


class BounceHandler:
    """aiosmtpd's handler: one per listener, sharing the app."""

    def __init__(self, app: Flask) -> None:
        self.app = app
        self.domain = app.config["BOUNCE_DOMAIN"]

    async def handle_RCPT(self, server, session, envelope, address: str, rcpt_options: list[str]) -> str:
        if not mail_reputation.takes_mail_for(address, self.domain):
            return "550 5.1.1 No such mailbox here: this host takes bounces and feedback reports only"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope) -> str:
        content = envelope.original_content or envelope.content
        try:
            await asyncio.to_thread(self.take, content, list(envelope.rcpt_tos))
        except Exception:  # the database away: the sender keeps the report and tries again later
            log.exception("mail-in: a report could not be recorded")
            return "451 4.3.0 Try again later"
        return "250 OK"

    def take(self, content: bytes, recipients: list[str]) -> int:
        report = parse_bounce(content)
        if report.kind is None:
            return 0
        with self.app.app_context():
            recorded = mail_webhooks.take_mailed_report(report, recipients)
        log.info("mail-in: %s report, %d of its %d recipients recorded", report.kind.value, recorded,
                 len(report.returned))
        return recorded


def listener(app: Flask, host: str, port: int) -> Controller:
    """The listener (not started): ``.start()`` serves on its own thread, ``.stop()`` ends it."""
    if not app.config["BOUNCE_DOMAIN"]:
        raise ValueError("set SOONISH_BOUNCE_DOMAIN: the domain whose MX this listener is")
    return Controller(BounceHandler(app), hostname=host, port=port, data_size_limit=MAX_REPORT_BYTES,
                      server_hostname=app.config["BOUNCE_DOMAIN"])


def split_bind(bind: str) -> tuple[str, int]:
    host, _, port = bind.rpartition(":")
    return host or "127.0.0.1", int(port)
