"""What a send came to: ``Sent``, ``RetryAfter(seconds)`` (the receiver asked us to come back
later) or ``Failed(reason, permanent)``. Plain data, used by the transports and the budgets."""
from dataclasses import dataclass


@dataclass(frozen=True)
class Sent:
    pass


@dataclass(frozen=True)
class RetryAfter:
    """The receiver is busy and said when to come back (HTTP 429/503 with Retry-After)."""

    seconds: float
    reason: str


@dataclass(frozen=True)
class Failed:
    reason: str
    permanent: bool = False


Outcome = Sent | RetryAfter | Failed
SENT = Sent()
