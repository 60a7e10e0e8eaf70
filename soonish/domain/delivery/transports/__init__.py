"""One class per transport behind one interface (``base.Transport``). Importing a module
registers its transport; a new transport is one module plus its line here."""
from soonish.domain.delivery.transports import apprise, discord, push, signed_webhook, slack, smtp, webhook  # noqa: F401  (registration)
from soonish.domain.delivery.transports.base import (
    SENT, Failed, Outcome, RetryAfter, Sent, Transport, TransportContext, TransportKind, register,
    registered_kinds, transport_class,
)

__all__ = [
    "SENT", "Failed", "Outcome", "RetryAfter", "Sent", "Transport", "TransportContext", "TransportKind",
    "register", "registered_kinds", "transport_class",
]
