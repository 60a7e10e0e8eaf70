"""Rate limits (Flask-Limiter): sign-in attempts, API calls, subscribe-by-email.

Counters live in memory (one process) unless ``SOONISH_RATELIMIT_STORAGE_URL`` points at Redis,
which every web process then shares. The limits themselves are settings (``LOGIN_RATE_LIMIT``,
...), read on each request, so a deployment or a test can tune them without code.

Views opt in with the decorators here:

- ``login_limit``: page form and token endpoint share one budget per IP, so splitting a brute
  force across the two gains nothing;
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

from .api.base import API_PREFIX, error_body

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

login_limit = limiter.shared_limit(
    _setting("LOGIN_RATE_LIMIT"), scope="login", key_func=client_ip, methods=["POST"],
    error_message="Too many sign-in attempts.",
    override_defaults=False,  # the token endpoint still counts against the caller's API budget
)

api_limit = limiter.shared_limit(
    _setting("API_RATE_LIMIT"), scope="api", key_func=api_caller, error_message="Too many API calls.",
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

    def address_key() -> str:
        # Hashed: the limiter's storage (maybe a shared Redis) need not hold people's addresses.
        return "email:" + hashlib.sha256(email_from().encode()).hexdigest()

    per_ip = limiter.shared_limit(
        _setting("SUBSCRIBE_RATE_LIMIT_PER_IP"), scope="subscribe-by-email-ip", key_func=client_ip,
        # Signed-in subscribers mail nobody but themselves: their API budget covers them.
        exempt_when=lambda: current_user.is_authenticated,
        error_message="Too many subscriptions from your network.", override_defaults=False,
    )
    per_address = limiter.shared_limit(
        _setting("SUBSCRIBE_RATE_LIMIT_PER_EMAIL"), scope="subscribe-by-email-address",
        key_func=address_key, exempt_when=lambda: not email_from(),
        error_message="Too many subscription emails to that address.", override_defaults=False,
    )

    def decorate(view):
        return per_address(per_ip(view))

    return decorate


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


def retry_after_seconds() -> int:
    breached = limiter.current_limit
    if breached is None:
        return 60
    reset_time, _remaining = breached.window
    return max(1, math.ceil(reset_time - time.time()))


def rate_limited(error: RateLimitExceeded):
    retry_after = retry_after_seconds()
    headers = {"Retry-After": str(retry_after)}
    message = f"{error.description} Try again in {retry_after} seconds."
    if request.path.startswith(API_PREFIX):
        return error_body("rate_limited", message), 429, headers
    return render_template("rate_limited.html", message=message, retry_after=retry_after), 429, headers
