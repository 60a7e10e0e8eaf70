"""Who may call an operation: the two bearer credentials, API key scopes, and their OpenAPI doc.

Operations say ``access=authorized("events:write")`` (ApiBlueprint.route) instead of
``@login_required``: a session or a JWT may do whatever its account may; an API key (``sk_...``)
only what its scopes name, else 403 naming the scope. The same decorator writes the operation's
``security`` and scopes into the OpenAPI document, and its ``refusals`` (the 401 and 403 it
answers) are documented with the operation's other errors, so the document says what the server
enforces.
"""
from functools import wraps

from flask import g
from flask_login import current_user
from flask_smorest import Blueprint

from soonish.i18n import _l
from soonish.services import Forbidden, ValidationFailed, api_keys
from soonish.web.auth import current_user_or_none
from soonish.web.extensions import login_manager
from soonish.web.request_bounds import JSON_DEPTH_MAX, URL_MAX_BYTES

# What every operation enforces beyond its schema, said once for the whole document.
API_RULES = (
    "Rules every operation enforces: text must not contain NUL (U+0000): such requests get 422 naming the field. "
    "Unknown body fields are refused (422). An event's `ends_at` must be after its `starts_at` (422 naming `ends_at`). "
    "Email addresses must be able to receive mail: special-use domains (.test, .invalid, .localhost, .example, ...) "
    "get 422. Lists are pages: `limit` (at most 200) and `cursor`; the answer's `next_cursor` and its "
    "`Link: <...>; rel=\"next\"` header lead to the next page. A JSON body nested deeper than "
    f"{JSON_DEPTH_MAX} levels gets 400, a body over 1 MiB 413, a path and query string over {URL_MAX_BYTES:,} bytes 414. "
    "Every POST and PATCH takes an `Idempotency-Key`. "
    "Authenticate with a JWT from `/auth/token` or a personal API key (`sk_...`), both as `Authorization: Bearer`."
)
JWT_SCHEME = "BearerToken"
API_KEY_SCHEME = "ApiKey"
SECURITY_SCHEMES = {
    JWT_SCHEME: {
        "type": "http", "scheme": "bearer", "bearerFormat": "JWT",
        "description": "From `POST /api/v1/auth/token`; may do whatever the account may.",
    },
    API_KEY_SCHEME: {
        "type": "http", "scheme": "bearer", "bearerFormat": "sk_...",
        "description": "A personal API key (`POST /api/v1/api-keys`, or the account page). It may only do what its "
        "scopes allow; an operation's `x-required-scopes` names the scope it needs. No key may manage the account "
        "(sign out everywhere, password, email, data export, deletion) or mint keys: those take a JWT or a session. "
        "\"Sign out everywhere\" leaves keys working (revoke each with `DELETE /api-keys/{key_id}`); a password "
        "reset revokes every key, and deleting the account deletes them. Scopes: "
        + "; ".join(f"`{name}`: {meaning}" for name, meaning in api_keys.SCOPES.items()),
    },
}


def _document(view, security: list[dict], scope: str | None, note: str):
    doc = {"security": security}
    if scope:
        doc["x-required-scopes"] = [scope]
    described = Blueprint.doc(**doc)(view)
    described.__doc__ = ((view.__doc__ or "").rstrip() + "\n\n" + note).strip()
    return described


def authorized(scope: str | None, *, api_keys_allowed: bool = True):
    """Signed in (session, JWT, or an API key holding ``scope``) or 401/403."""
    note = f"API keys need the scope `{scope}`." if scope and api_keys_allowed else (
        "Not with an API key: sign in or use a token." if not api_keys_allowed else "")

    def refusal():
        """The 401 this request gets (or the 403 it raises); None when it may go on."""
        if not current_user.is_authenticated:
            return login_manager.unauthorized()
        key = g.get("api_key")
        if key is not None and not api_keys_allowed:
            raise Forbidden("API keys can't do this; sign in or use a token from /api/v1/auth/token.")
        if scope:
            api_keys.check_scope(key, scope)
        return None

    def decorate(view):
        @wraps(view)
        def checked(*args, **kwargs):
            refused = refusal()
            return refused if refused is not None else view(*args, **kwargs)

        # An Idempotency-Key replay passes this same check first (idempotency.py).
        checked.refusal = refusal
        security = [{JWT_SCHEME: []}] + ([{API_KEY_SCHEME: []}] if api_keys_allowed else [])
        return _document(checked, security, scope, note)

    decorate.refusals = (401, 403)
    return decorate


# The account's own operations (password, email, export, deletion, minting keys): a session or a
# JWT, never an API key (403).
account_only = authorized(None, api_keys_allowed=False)


def optionally_authorized(scope: str):
    """Open to anyone; a caller that signs in sees more (their private events). An API key
    without ``scope`` is refused rather than silently treated as anonymous."""

    def refusal():
        if current_user.is_authenticated:
            api_keys.check_scope(g.get("api_key"), scope)  # raises the 403

    def decorate(view):
        @wraps(view)
        def checked(*args, **kwargs):
            refusal()
            return view(*args, **kwargs)

        checked.refusal = refusal  # as authorized's
        return _document(checked, [{}, {JWT_SCHEME: []}, {API_KEY_SCHEME: []}], scope,
                         f"Anonymous, or signed in; API keys need the scope `{scope}`.")

    decorate.refusals = (403,)
    return decorate


def signed_in_or_email(data: dict):
    """A follow's caller: the signed-in user, or None for an anonymous caller, whose body must
    then give the email to follow with (422 naming it otherwise)."""
    user = current_user_or_none()
    if user is None and not data.get("email"):
        raise ValidationFailed.field("email", _l("Sign in, or give an email address to follow by email."))
    return user
