"""What a send came to: ``Sent``, ``RetryAfter(seconds)`` (the receiver asked us to come back
later) or ``Failed(reason, permanent)``. Plain data, used by the transports and the budgets.
Each carries the receiver's HTTP status when it answered one (an outgoing webhook's attempt
log shows it to the endpoint's owner)."""
import re
from dataclasses import dataclass


@dataclass(frozen=True)
class Sent:
    http_status: int | None = None


@dataclass(frozen=True)
class RetryAfter:
    """The receiver is busy and said when to come back (HTTP 429/503 with Retry-After)."""

    seconds: float
    reason: str
    http_status: int | None = None


@dataclass(frozen=True)
class Failed:
    reason: str
    permanent: bool = False
    http_status: int | None = None
    # The mail server's 5xx refusal of the recipient ("550 5.1.1 user unknown"): a bounce, heard
    # by the suppression list like a mailed-back one.
    mail_reply: str = ""
    # The destination no longer exists and never comes back (a push subscription its push
    # service answers 404/410 for): its channel is removed.
    gone: bool = False


Outcome = Sent | RetryAfter | Failed
SENT = Sent()


# A failure reason names where the send went: "http://example.net answered HTTP 410",
# "example.net resolves to a private address", "the mail server refused ann@example.com".
# Once the recipient is erased the host and the address go and the rest stays: organizers'
# pages group failures by reason, and the ledger rows of a deleted channel have no URL left to
# say which host was its own, so every host and address in the reason goes.
ERASED_ADDRESS = "[erased address]"
ERASED_HOST = "[erased host]"
_ADDRESS = re.compile(r"[^\s<>()\"',;:]+@[^\s<>()\"',;:]+")
_URL_HOST = re.compile(r"\b([a-zA-Z][a-zA-Z0-9+.-]*://)[^\s/?#]+")
_REFUSED_HOST = re.compile(r"^\S+(?= (?:is|resolves to) a private address)")


def redacted_reason(reason: str) -> str:
    """``reason`` without the hosts and addresses in it, for a recipient who was erased."""
    reason = _ADDRESS.sub(ERASED_ADDRESS, reason)
    reason = _URL_HOST.sub(rf"\1{ERASED_HOST}", reason)
    return _REFUSED_HOST.sub(ERASED_HOST, reason)
