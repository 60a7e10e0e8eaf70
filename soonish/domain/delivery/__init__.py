"""The delivery domain: plain Python, no Temporal. Who gets a notification through which
targets (``planning``), the ledger that makes every send happen once (``ledger``), the
reminder rule (``reminders``), composing mail (``mail``), and one class per transport behind
one interface (``transports``), driven for a batch by the ``Courier``.

Errors never carry a URL: integration URLs hold credentials.

The names below are the package's public face; ``planning``, ``ledger`` and ``reminders``
work in the database and are imported by module.
"""
import logging

from soonish.domain.delivery.courier import Courier
from soonish.domain.delivery.mail import compose_mail
from soonish.domain.delivery.transports import Failed, Outcome, RetryAfter, Sent, TransportKind
from soonish.domain.delivery.transports.apprise import connect_host, mask_url, parse_apprise_url
from soonish.domain.delivery.transports.smtp import write_to_outbox
from soonish.domain.delivery.transports.webhook import http_pool
from soonish.domain.delivery.types import ChatAddress, ChatSettings, Destination, MailSettings, PushSettings, SignedEndpoint
from soonish.domain.messages import Message

# Apprise's debug lines echo parsed URLs, credentials included: never let them through.
logging.getLogger("apprise").setLevel(logging.WARNING)

__all__ = [
    "ChatAddress", "ChatSettings", "Courier", "Destination", "Failed", "MailSettings", "Message", "Outcome",
    "PushSettings", "RetryAfter", "Sent", "SignedEndpoint", "TransportKind", "compose_mail", "connect_host", "http_pool",
    "mask_url", "parse_apprise_url", "write_to_outbox",
]
