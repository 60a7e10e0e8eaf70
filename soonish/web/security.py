"""Browser-facing hardening: cookie flags, security headers, and no default secret in production."""
from urllib.parse import urlsplit

from flask import Flask, current_app, request
from flask_smorest import abort

from soonish.config import Config



def content_security_policy(asset_origin: str | None = None, frame_ancestors: str = "'none'") -> str:
    """The policy every response carries; ``asset_origin`` (a CDN serving /static) is allowed
    wherever the pages load assets from. ``frame_ancestors``: who may frame the page (nobody,
    but for the embeddable ones: see ``framable_anywhere``)."""
    own = f"'self' {asset_origin}" if asset_origin else "'self'"
    return "; ".join([
        f"default-src {own}",
        # 'unsafe-eval' only because the vendored Alpine.js (static/vendor/alpinejs, the standard
        # build) compiles x-data / x-on expressions with new Function(). Switching the pages to
        # Alpine's CSP build (@alpinejs/csp) lets this line drop it. No inline scripts anywhere.
        f"script-src {own} 'unsafe-eval'",
        f"style-src {own}",
        f"img-src {own} data:",  # Swagger UI's stylesheet draws its icons from data: URIs
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'self'",
        f"frame-ancestors {frame_ancestors}",
    ])


def static_origin(static_url: str) -> str | None:
    """The origin (scheme://host[:port]) of SOONISH_STATIC_URL, when assets come from elsewhere."""
    parts = urlsplit(static_url)
    return f"{parts.scheme}://{parts.netloc}" if parts.scheme and parts.netloc else None


def security_headers(config) -> dict[str, str]:
    """The headers every response carries (the static files' too: web/assets.py adds them)."""
    return {
        "Content-Security-Policy": content_security_policy(static_origin(config["STATIC_URL"])),
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
    app.extensions["soonish.security_headers"] = security_headers(app.config)
    app.before_request(refuse_nul_characters)
    app.after_request(add_security_headers)


def framable_anywhere(response):
    """A page made to be embedded on other sites (a community's follow button): any origin may
    frame it; the rest of the policy stays as strict as every page's."""
    response.headers["Content-Security-Policy"] = content_security_policy(
        static_origin(current_app.config["STATIC_URL"]), frame_ancestors="*")
    return response


def add_security_headers(response):
    framable = "frame-ancestors *" in response.headers.get("Content-Security-Policy", "")
    for name, value in current_app.extensions["soonish.security_headers"].items():
        if not (framable and name == "X-Frame-Options"):
            response.headers.setdefault(name, value)
    if request.is_secure:
        response.headers.setdefault("Strict-Transport-Security", HSTS)
    return response


def _contains_nul(value) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_contains_nul(key) or _contains_nul(item) for key, item in value.items())
    if isinstance(value, list):
        return any(_contains_nul(item) for item in value)
    return False


def _fields_with_nul(values) -> list[str]:
    if isinstance(values, dict):
        return [str(name) for name, value in values.items() if _contains_nul(name) or _contains_nul(value)]
    return ["_schema"] if _contains_nul(values) else []  # a JSON body that is a bare list or string


NUL_SPELLINGS = (b"\x00", b"%00", b"\\u0000")


def refuse_nul_characters() -> None:
    """PostgreSQL text cannot hold NUL (0x00): refuse it at the door with a 422 naming the field,
    rather than fail deep inside a query with a 500. No legitimate input contains one."""
    # Keep the raw body: signed requests (Slack) are verified over the exact bytes, and form
    # parsing would otherwise consume them. Forms are then parsed from this cached copy.
    body = request.get_data(cache=True)
    # A NUL reaches a value only as itself, %00 (query, urlencoded form) or \u0000 (JSON): a
    # request carrying none of them needs no parsing here (nearly all of them, every request).
    carried = (body, request.query_string)
    if "\x00" not in request.path and not any(spelling in part for part in carried for spelling in NUL_SPELLINGS):
        return
    places = {
        "path": request.view_args or {},
        "query": request.args.to_dict(),
        "form": request.form.to_dict(),
        "json": request.get_json(silent=True) if request.is_json else None,
    }
    errors = {
        location: {name: ["Must not contain NUL characters."] for name in _fields_with_nul(values)}
        for location, values in places.items()
    }
    errors = {location: fields for location, fields in errors.items() if fields}
    if errors:
        abort(422, message="The request contains NUL characters, which text pasted from a file can bring along: "
                           "remove them and try again.", errors=errors)


def refuse_default_secret_key(config) -> None:
    """Raise before serving with the published default key: anyone could forge sessions and tokens."""
    if config["SECRET_KEY"] == Config.SECRET_KEY and not config["DEV"]:
        raise RuntimeError(
            "SOONISH_SECRET_KEY is the default from the source code; set it to a long random value "
            "(python -c 'import secrets; print(secrets.token_urlsafe(48))'), or SOONISH_DEV=1 on a "
            "development machine."
        )
