"""Errors the services raise; web, API and bots each render them in their own shape.

Their sentences are marked where they are raised with ``_l`` (lazy): each door turns them into
text (``str``) in its reader's language when it renders them; the codes stay as they are."""
from collections.abc import Iterator
from contextlib import contextmanager

from soonish.i18n import _l
from soonish.links import LinkInvalid


class ServiceError(Exception):
    """An operation refused. Each kind names in its class line the HTTP ``status`` the API and
    pages answer with and the machine-readable ``code`` of the API's error body."""

    status = 400
    code = "bad_request"

    def __init_subclass__(cls, *, status: int | None = None, code: str | None = None, **kwargs) -> None:
        super().__init_subclass__(**kwargs)
        cls.status = status or cls.status
        cls.code = code or cls.code

    def __init__(self, message: str, fields: dict[str, list[str]] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.fields = fields or {}


class ValidationFailed(ServiceError, status=422, code="validation_error"):
    @classmethod
    def field(cls, name: str, message: str) -> "ValidationFailed":
        return cls(message, {name: [message]})


class NotFound(ServiceError, status=404, code="not_found"):
    """Missing, or someone else's: the two look alike (owned_or_missing)."""


class Forbidden(ServiceError, status=403, code="forbidden"):
    """Seen, but not the caller's to do (a role or an API key's scope short of it)."""


class Conflict(ServiceError, status=409, code="conflict"):
    """Not in the state it is in now (cancelled, over, taken)."""


class Gone(ServiceError, status=410, code="gone"):
    """Good once, not any more (an invitation used or expired)."""


class TooSoon(ServiceError, status=429, code="rate_limited"):
    """Asked again before the wait is over; ``retry_after`` seconds to go."""

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class Unavailable(ServiceError, status=503, code="unavailable"):
    """Something it needs is away or not set up; trying later may work."""


def owned_or_missing(row, user, what: str):
    """``row`` when ``user`` owns it. Someone else's looks exactly like a missing one."""
    if row is None or row.user_id != user.id:
        raise NotFound(_l("No such %(what)s.", what=what))
    return row


@contextmanager
def reading_link(expired) -> Iterator[None]:
    """Reading what a link of ours carries: one that was good once answers NotFound(``expired``,
    which says what to do instead), one that never was (or carries what we never signed, caught
    as it is unpacked) "This link is not valid."."""
    try:
        yield
    except LinkInvalid as exc:
        raise NotFound(expired if exc.expired else _l("This link is not valid.")) from exc
    except (TypeError, ValueError) as exc:
        raise NotFound(_l("This link is not valid.")) from exc
