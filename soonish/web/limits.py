"""Rate limits (Flask-Limiter): sign-in attempts, API calls, subscribe-by-email.

Counters live in memory (one process) unless ``SOONISH_RATELIMIT_STORAGE_URL`` points at Redis,
which every web process then shares. The limits themselves are settings (``LOGIN_RATE_LIMIT``,
...), read on each request, so a deployment or a test can tune them without code.

Sign-in goes through ``authenticate_within_limits`` (page form and token endpoint alike, so
splitting a brute force across the two gains nothing). It counts failures only, as OWASP's
authentication guidance has it: per account from one IP (``LOGIN_RATE_LIMIT``) and per IP across
accounts with a higher ceiling (``LOGIN_RATE_LIMIT_PER_IP``). A success costs nothing and clears
that account's failures, so an office or a venue's Wi-Fi behind one IP can all sign in.

Views opt in with the decorators here:

- ``api_limit``: applied to every API blueprint in ``api/__init__.py``; keyed by the signed-in
  user (who may sit behind a shared NAT), by IP for anonymous calls;
- ``subscribe_by_email_limit``: for the endpoints that send a confirmation email to an address
  the caller typed in; limits per IP and per address so nobody can mail-bomb someone through us.
"""
import hashlib
import logging
import math
import time
from typing import Callable

from flask import current_app, g, render_template, request
from flask_limiter import Limiter, RateLimitExceeded
from flask_login import current_user
from limits import parse
from limits.storage import MemoryStorage
from limits.strategies import FixedWindowRateLimiter

from soonish.i18n import _, _l, ngettext
from soonish.models import User
from soonish.services import accounts
from soonish.web.api.base import API_PREFIX, error_body

log = logging.getLogger(__name__)

def client_ip() -> str:
    # request.remote_addr is the real client once ProxyFix trusts TRUSTED_PROXIES hops.
    return f"ip:{request.remote_addr or 'unknown'}"


def api_caller() -> str:
    api_key = g.get("api_key") if current_user.is_authenticated else None
    if api_key is not None:
        return f"key:{api_key.id}"  # each API key has a budget of its own
    if current_user.is_authenticated:
        return f"user:{current_user.id}"
    return client_ip()


def requested_email() -> str:
    """The ``email`` a JSON body or a form carries, normalized; "" when there is none."""
    body = request.get_json(silent=True) if request.is_json else request.form
    email = body.get("email") if hasattr(body, "get") else None
    return email.strip().lower() if isinstance(email, str) else ""


def _setting(name: str) -> Callable[[], str]:
    return lambda: current_app.config[name]


limiter = Limiter(key_func=client_ip)

api_limit = limiter.shared_limit(
    _setting("API_RATE_LIMIT"), scope="api", key_func=api_caller, error_message=_l("Too many API calls."),
)


def subscribe_by_email_limit(email_from: Callable[[], str] = requested_email):
    """Limit a view that emails an address taken from the request, per IP and per address.

    ``email_from`` returns the address the request asks us to write to (by default the
    ``email`` field of the JSON body or form). Requests without one are not counted against
    any address; the view rejects them anyway. Usage::

        @bp.post("/events/<int:event_id>/subscribe")
        @subscribe_by_email_limit()
        def subscribe(event_id): ...
    """
    return mail_to_address_limit(
        "subscribe-by-email", "SUBSCRIBE_RATE_LIMIT_PER_IP", "SUBSCRIBE_RATE_LIMIT_PER_EMAIL",
        _l("Too many subscriptions from your network."), _l("Too many subscription emails to that address."),
        email_from,
    )


def password_reset_limit():
    """"Forgot password": per IP and per address, so nobody floods a mailbox with reset mails."""
    return mail_to_address_limit(
        "password-reset", "PASSWORD_RESET_RATE_LIMIT_PER_IP", "PASSWORD_RESET_RATE_LIMIT_PER_EMAIL",
        _l("Too many reset requests from your network."), _l("Too many reset mails to that address."),
    )


def lift_link_limit():
    """The link that lifts a suppression, mailed to the signed-in account's own address: per
    address (an address that bounced or complained, whose every mail costs the sender)."""
    return mail_to_address_limit(
        "lift-link", "PASSWORD_RESET_RATE_LIMIT_PER_IP", "LIFT_LINK_RATE_LIMIT_PER_EMAIL",
        _l("Too many requests from your network."), _l("Too many links mailed to that address: try again tomorrow."),
        lambda: current_user.email or "",
    )


def mail_to_address_limit(scope: str, per_ip_setting: str, per_email_setting: str, ip_message: str,
                          email_message: str, email_from: Callable[[], str] = requested_email):
    def address_key() -> str:
        # Hashed: the limiter's storage (maybe a shared Redis) need not hold people's addresses.
        return "email:" + hashlib.sha256(email_from().encode()).hexdigest()

    per_ip = limiter.shared_limit(
        _setting(per_ip_setting), scope=f"{scope}-ip", key_func=client_ip, methods=["POST"],
        # Signed-in subscribers mail nobody but themselves: their API budget covers them.
        exempt_when=lambda: current_user.is_authenticated,
        error_message=ip_message, override_defaults=False,
    )
    per_address = limiter.shared_limit(
        _setting(per_email_setting), scope=f"{scope}-address", methods=["POST"],
        key_func=address_key, exempt_when=lambda: not email_from(),
        error_message=email_message, override_defaults=False,
    )

    def decorate(view):
        return per_address(per_ip(view))

    return decorate


class TooManyFailedSignIns(Exception):
    def __init__(self, retry_after: int) -> None:
        super().__init__(_("Too many failed sign-ins."))
        self.retry_after = retry_after


# Counts here while the shared storage is unreachable, as Flask-Limiter does for its limits:
# a Redis outage must neither lock everyone out nor lift the limit.
_fallback_counter = FixedWindowRateLimiter(MemoryStorage())


def _sign_in_counters(email: str) -> list[tuple]:
    """(limit, *identifiers) of each failure counter a sign-in for ``email`` from here uses."""
    account = "account:" + hashlib.sha256(email.strip().lower().encode()).hexdigest()  # no addresses in Redis
    return [
        (parse(current_app.config["LOGIN_RATE_LIMIT"]), "sign-in-failures", client_ip(), account),
        (parse(current_app.config["LOGIN_RATE_LIMIT_PER_IP"]), "sign-in-failures", client_ip()),
    ]


def _count(operation: str, limit, *identifiers):
    try:
        return getattr(limiter.limiter, operation)(limit, *identifiers)
    except Exception:  # the storage's own errors (a Redis outage) vary by backend
        log.warning("rate limit storage unreachable; counting sign-in failures in memory", exc_info=True)
        return getattr(_fallback_counter, operation)(limit, *identifiers)


def authenticate_within_limits(email: str, password: str) -> User | None:
    """``accounts.authenticate`` behind the sign-in limits: raises TooManyFailedSignIns while
    either failure budget is spent (even for the right password), counts a failure against
    both, and clears the account's count at this IP on a success."""
    if not limiter.enabled:
        return accounts.authenticate(email, password)
    counters = _sign_in_counters(email)
    spent = [counter for counter in counters if not _count("test", *counter)]
    if spent:
        reset_at = max(_count("get_window_stats", *counter).reset_time for counter in spent)
        raise TooManyFailedSignIns(max(1, math.ceil(reset_at - time.time())))
    user = accounts.authenticate(email, password)
    if user is None:
        for counter in counters:
            _count("hit", *counter)
    else:
        _count("clear", *counters[0])
    return user


def warn_if_counted_per_process(config) -> None:
    """For the production entry points (wsgi.py, `soonish web`): counters in memory are each
    process's own, so N web processes let a client through N times every limit."""
    if config["RATELIMIT_ENABLED"] and not config["RATELIMIT_STORAGE_URL"] and not config["DEV"]:
        log.warning("rate limits are counted in this process's memory; with more than one web process "
                    "set SOONISH_RATELIMIT_STORAGE_URL=redis://host:6379/0 so they share the counters")


def init_app(app) -> None:
    app.config["RATELIMIT_STORAGE_URI"] = app.config["RATELIMIT_STORAGE_URL"] or "memory://"
    limiter.init_app(app)
    app.register_error_handler(RateLimitExceeded, rate_limited)
    app.register_error_handler(TooManyFailedSignIns, sign_in_refused)


def retry_after_seconds() -> int:
    breached = limiter.current_limit
    if breached is None:
        return 60
    reset_time, _remaining = breached.window
    return max(1, math.ceil(reset_time - time.time()))


def wait_in_words(seconds: int) -> str:
    """How long to wait as a person says it: "about 15 minutes", not "884 seconds"."""
    minutes = math.ceil(seconds / 60)
    if minutes <= 1:
        return _("a minute")
    if minutes < 90:
        return ngettext("about %(num)s minute", "about %(num)s minutes", minutes)
    return ngettext("about %(num)s hour", "about %(num)s hours", round(minutes / 60))


def rate_limited(error: RateLimitExceeded):
    return _refusal(error.description, retry_after_seconds())


def sign_in_refused(error: TooManyFailedSignIns):
    return _refusal(str(error), error.retry_after)


def _refusal(reason: str, retry_after: int):
    headers = {"Retry-After": str(retry_after)}
    message = _("%(reason)s Try again in %(wait)s.", reason=reason, wait=wait_in_words(retry_after))
    if request.path.startswith(API_PREFIX):
        return error_body("rate_limited", message), 429, headers
    return render_template("rate_limited.html", message=message, retry_after=retry_after), 429, headers
