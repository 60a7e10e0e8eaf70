"""Forms that cause sends (announce, cancel, follow) take effect once per page shown.

Each such form carries a one-time ``form_nonce``. The first submit runs and its answer (the
redirect or the htmx fragment, and the flash messages) is kept for 24 hours in the same
database table as the API's idempotency keys; a second submit of the same form (a double
click, back-and-resubmit) does nothing and shows that first answer. A form re-shown after a
mistake carries a fresh nonce, and a submit that was refused (an error page) frees its nonce.
"""
import json
import secrets
from functools import wraps

from flask import Response, flash, get_flashed_messages, redirect, request, session
from flask_login import current_user

from soonish.i18n import _
from soonish.services import Conflict, ValidationFailed, idempotency

FIELD = "form_nonce"


def form_nonce() -> str:
    """For templates: ``<input type="hidden" name="form_nonce" value="{{ form_nonce() }}">``."""
    return secrets.token_urlsafe(16)


def _caller() -> str:
    return idempotency.account_caller(current_user.id) if current_user.is_authenticated else "form"


def once_per_form(view):
    @wraps(view)
    def guarded(*args, **kwargs):
        nonce = request.form.get(FIELD, "")
        if not nonce:
            return view(*args, **kwargs)  # a page from before this rule: nothing to dedupe on
        try:
            outcome = idempotency.begin(_caller(), f"form:{nonce}",
                                        idempotency.fingerprint("FORM", request.path, b""))
        except Conflict:
            flash(_("That was sent already and is still being processed."), "info")
            return redirect(request.referrer or "/")
        except ValidationFailed:  # the nonce was used on another form: not a repeat of this one
            return view(*args, **kwargs)
        if isinstance(outcome, idempotency.StoredAnswer):
            return _replay(outcome)
        try:
            response = view(*args, **kwargs)
        except Exception:
            # Refused (an abort, a ServiceError for the error page) or failed: free the nonce.
            idempotency.finish(outcome, 500, "")
            raise
        response = response if isinstance(response, Response) else Response(response)
        # Flashes this answer queued (a redirect shows them on the next page): kept for a replay.
        flashes = session.get("_flashes", [])
        answer = {"location": response.headers.get("Location"), "body": response.get_data(as_text=True),
                  "hx": {k: v for k, v in response.headers.items() if k.lower().startswith("hx-")},
                  "flashes": [[category, str(message)] for category, message in flashes]}  # lazy ones as text
        status = response.status_code if response.status_code < 400 else 500  # errors free the nonce
        idempotency.finish(outcome, status, json.dumps(answer))
        return response

    return guarded


def _replay(stored: idempotency.StoredAnswer) -> Response:
    answer = json.loads(stored.body)
    get_flashed_messages()  # nothing stale in between
    for category, message in answer["flashes"]:
        flash(message, category)
    if answer["location"]:
        return redirect(answer["location"], stored.status)
    return Response(answer["body"], stored.status, headers=answer["hx"], mimetype="text/html")
