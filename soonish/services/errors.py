"""Errors the services raise; web, API and bots each render them in their own shape.

Their sentences are marked where they are raised with ``_l`` (lazy): each door turns them into
text (``str``) in its reader's language when it renders them; the codes stay as they are."""
from soonish.i18n import _l


class ServiceError(Exception):
    status = 400
    code = "bad_request"

    def __init__(self, message: str, fields: dict[str, list[str]] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.fields = fields or {}


class ValidationFailed(ServiceError):
    status = 422
    code = "validation_error"

    @classmethod
    def field(cls, name: str, message: str) -> "ValidationFailed":
        return cls(message, {name: [message]})


class NotFound(ServiceError):
    status = 404
    code = "not_found"


class Forbidden(ServiceError):
    status = 403
    code = "forbidden"


class Conflict(ServiceError):
    status = 409
    code = "conflict"


class Gone(ServiceError):
    status = 410
    code = "gone"


class TooSoon(ServiceError):
    """Asked again before the wait is over; ``retry_after`` seconds to go."""

    status = 429
    code = "rate_limited"

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class Unavailable(ServiceError):
    status = 503
    code = "unavailable"


def owned_or_missing(row, user, what: str):
    """``row`` when ``user`` owns it. Someone else's looks exactly like a missing one."""
    if row is None or row.user_id != user.id:
        raise NotFound(_l("No such %(what)s.", what=what))
    return row
