"""Browser-facing hardening: cookie flags, security headers, and no default secret in production."""
from flask import Flask, request

from ..config import Config

CONTENT_SECURITY_POLICY = "; ".join([
    "default-src 'self'",
    # 'unsafe-eval' only because the vendored Alpine.js (static/vendor/alpinejs, the standard
    # build) compiles x-data / x-on expressions with new Function(). Switching the pages to
    # Alpine's CSP build (@alpinejs/csp) lets this line drop it. No inline scripts anywhere.
    "script-src 'self' 'unsafe-eval'",
    "style-src 'self'",
    "img-src 'self' data:",  # Swagger UI's stylesheet draws its icons from data: URIs
    "object-src 'none'",
    "base-uri 'self'",
    "form-action 'self'",
    "frame-ancestors 'none'",
])
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "strict-origin-when-cross-origin",
    "X-Frame-Options": "DENY",  # frame-ancestors for browsers that predate it
}
HSTS = "max-age=31536000; includeSubDomains"


def serves_plain_http(config) -> bool:
    """`soonish dev` and the tests talk plain http on localhost; everything else is behind TLS."""
    return bool(config["DEV"] or config["TESTING"])


def init_app(app: Flask) -> None:
    for name in ("SESSION_COOKIE_SECURE", "REMEMBER_COOKIE_SECURE"):
        if app.config[name] is None:  # unset: secure unless serving plain http
            app.config[name] = not serves_plain_http(app.config)
    app.after_request(add_security_headers)


def add_security_headers(response):
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    if request.is_secure:
        response.headers.setdefault("Strict-Transport-Security", HSTS)
    return response


def refuse_default_secret_key(config) -> None:
    """Raise before serving with the published default key: anyone could forge sessions and tokens."""
    if config["SECRET_KEY"] == Config.SECRET_KEY and not config["DEV"]:
        raise RuntimeError(
            "SOONISH_SECRET_KEY is the default from the source code; set it to a long random value "
            "(python -c 'import secrets; print(secrets.token_urlsafe(48))'), or SOONISH_DEV=1 on a "
            "development machine."
        )
