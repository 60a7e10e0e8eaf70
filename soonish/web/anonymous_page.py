"""The event page as an anonymous visitor sees it, rendered once per event version (and kept a
couple of seconds, for the counts) in each process, because the moment a link spreads is made
of anonymous views of one page.

What differs per visitor is put in per view: the CSRF token (the rendered one is swapped for
this visitor's) and each form's one-time nonce (rendered as a placeholder). A visitor with
something of their own on the page (a flash message, a follow by email this browser made, a
session) gets it rendered as before. An unchanged page answers a revalidation with 304.
"""
import hashlib
import re
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from flask import Response, current_app, request, session
from flask_login import current_user
from flask_wtf.csrf import generate_csrf

from .htmx import is_htmx_request
from .subscriptions import EMAIL_FOLLOWS

# Rendered where a form's nonce goes; each view puts a fresh nonce in each place.
NONCE_SLOT = "form-nonce-slot-0f3a9c"
CSRF_SLOT = "csrf-token-slot-7b21e4"
_NONCES = re.compile(re.escape(NONCE_SLOT))
ENTRIES_KEPT = 256
# A 304 keeps the page (and its CSRF token) the browser has: only within half the token's life.
ETAG_WINDOW_SECONDS = 1800


@dataclass(frozen=True)
class Rendered:
    html: str  # with CSRF_SLOT and NONCE_SLOT where the visitor's own values go
    digest: str
    fresh_until: float


_entries: dict[tuple[int, int], Rendered] = {}
_lock = threading.Lock()


def serves_viewer() -> bool:
    """Whether this viewer sees the shared page: signed out, a full page load, no message waiting."""
    return (current_app.config["EVENT_PAGE_CACHE_SECONDS"] > 0 and not current_user.is_authenticated
            and not is_htmx_request() and "_flashes" not in session)


def serves_event(event_id: int) -> bool:
    """And for this event: this browser followed it by email (its box says so) or not."""
    return str(event_id) not in session.get(EMAIL_FOLLOWS, {})


def response(key: tuple[int, int], render: Callable[..., str]) -> Response:
    """The page for the event version ``key`` (id, version) from memory, rendered by
    ``render(form_nonce=...)`` when it has a new version or the kept render is more than
    EVENT_PAGE_CACHE_SECONDS old."""
    now = time.monotonic()
    entry = _entries.get(key)
    if entry is None or entry.fresh_until <= now:
        token = generate_csrf()  # the one the render puts in every form: swapped for a slot
        html = render(form_nonce=lambda: NONCE_SLOT).replace(token, CSRF_SLOT)
        entry = Rendered(html, hashlib.sha1(html.encode()).hexdigest()[:20],
                         now + current_app.config["EVENT_PAGE_CACHE_SECONDS"])
        with _lock:
            if len(_entries) >= ENTRIES_KEPT:
                _entries.pop(next(iter(_entries)))
            _entries.pop(key, None)
            _entries[key] = entry
    etag = f"{entry.digest}-{int(time.time() // ETAG_WINDOW_SECONDS)}"
    if request.if_none_match.contains(etag):
        answer = Response(status=304)
    else:
        html = entry.html.replace(CSRF_SLOT, generate_csrf())
        answer = Response(_NONCES.sub(lambda _: secrets.token_urlsafe(16), html), mimetype="text/html")
    answer.set_etag(etag)
    # Only the visitor's browser may keep it (it holds their CSRF token), asking each time.
    answer.cache_control.private = True
    answer.cache_control.no_cache = True
    answer.vary.update(("HX-Request", "Cookie"))
    return answer
