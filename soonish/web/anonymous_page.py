"""The event page as an anonymous visitor sees it, answered from memory without a query, because
the moment a link spreads is made of anonymous views of one page. Every EVENT_PAGE_CACHE_SECONDS
(2) per process one query asks whether what it shows changed (services.events.public_page_state:
the event, its cover, the answers, the followers' count) and only then is it rendered again, and
at least every RENDER_MAX_AGE_SECONDS (for the rest: the host's name, the series line). A change
of the event made in this process (a new version, RSVP settings) renders it again at the next view.

A view costs no session: the page's forms carry a signed token made with the render (the
rendered session token is swapped for it; web/auth.py's ``shared_page_token``, which its
follow-by-email form accepts without a session), so a first view writes no session and sets no
cookie. Only each form's one-time nonce is put in per view (rendered as a placeholder). A
visitor with something of their own on the page (a flash message, a follow by email this browser
made, a signed-in session) gets it rendered as before. An unchanged page answers a revalidation
with 304.

With read replicas, a browser that wrote within REPLICA_STICKY_SECONDS reads the primary
(read-your-writes, web/replicas.py): it is never answered from here, nor does its render go here,
since a kept page may have been read from a replica that has not seen that write yet. Everyone
else may see a page as old as the replica's lag plus EVENT_PAGE_CACHE_SECONDS.

The pages are kept per app (in ``app.extensions``, made at first use), so an app a test process
reuses starts each test without them (tests/reused_apps.py drops what an app made at first use).
"""
import hashlib
import re
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from flask import Response, current_app, g, has_app_context, request, session
from flask_login import current_user
from flask_wtf.csrf import generate_csrf
from sqlalchemy import event as sa_event

from soonish.i18n import current_locale
from soonish.models import Event, EventCover
from soonish.services.events import public_page_state

from soonish.web.auth import shared_page_token
from soonish.web.htmx import is_htmx_request
from soonish.web.replicas import reads_own_writes
from soonish.web.subscriptions import EMAIL_FOLLOWS

# Rendered where a form's nonce goes; each view puts a fresh nonce in each place.
NONCE_SLOT = "form-nonce-slot-0f3a9c"
_NONCES = re.compile(re.escape(NONCE_SLOT))
ENTRIES_KEPT = 256
# A 304 keeps the page (and its form token) the browser has: only within half the token's life.
ETAG_WINDOW_SECONDS = 1800


# A render costs about a hundred times a view: under load a process that rendered every 2 s
# spent most of its time on them (bench/follow.py), where asking whether anything changed is one query.
RENDER_MAX_AGE_SECONDS = 60


@dataclass
class Rendered:
    event_id: int
    html: str  # with NONCE_SLOT where each view's own nonces go
    digest: str
    state: tuple | None  # public_page_state when rendered
    rendered_at: float
    fresh_until: float


class KeptPages:
    """By slug and language (each reader's page is in theirs): a kept page answers without a query. Changes made in this process drop it at once
    (the listeners below); other processes' copies are at most EVENT_PAGE_CACHE_SECONDS old."""

    def __init__(self) -> None:
        self.entries: dict[tuple[str, str], Rendered] = {}
        self.lock = threading.Lock()


def _kept_pages() -> KeptPages:
    return current_app.extensions.setdefault("soonish.anonymous_pages", KeptPages())


def serves_viewer() -> bool:
    """Whether this viewer sees the shared page: signed out, a full page load, no message waiting."""
    return (current_app.config["EVENT_PAGE_CACHE_SECONDS"] > 0 and not current_user.is_authenticated
            and not is_htmx_request() and "_flashes" not in session and not reads_own_writes())


def serves_event(event_id: int) -> bool:
    """And for this event: this browser followed it by email (its box says so) or not."""
    return str(event_id) not in session.get(EMAIL_FOLLOWS, {})


def kept(slug: str) -> Rendered | None:
    """The page kept for ``slug`` while it is fresh, or while it shows what it would if rendered now."""
    entry = _kept_pages().entries.get((slug, current_locale()))
    now = time.monotonic()
    if entry is None or entry.fresh_until > now:
        return entry
    if now - entry.rendered_at < RENDER_MAX_AGE_SECONDS and public_page_state(entry.event_id) == entry.state:
        entry.fresh_until = now + current_app.config["EVENT_PAGE_CACHE_SECONDS"]
        return entry
    return None


def keep(event, render: Callable[..., str]) -> Rendered:
    """Render ``event``'s page with ``render(form_nonce=...)`` and keep it."""
    state = public_page_state(event.id)  # read first: a change meanwhile renders it again at the next check
    had_token = "csrf_token" in session
    token = generate_csrf()  # the one the render puts in every form: swapped for the page's own
    html = render(form_nonce=lambda: NONCE_SLOT).replace(token, shared_page_token())
    if not had_token:  # nor does the visitor whose view renders it get a session for it
        session.pop("csrf_token")
        g.pop("csrf_token", None)
        session.modified = bool(session)
    now = time.monotonic()
    entry = Rendered(event.id, html, hashlib.sha1(html.encode()).hexdigest()[:20], state, now,
                     now + current_app.config["EVENT_PAGE_CACHE_SECONDS"])
    pages = _kept_pages()
    with pages.lock:
        key = (event.slug, current_locale())
        pages.entries.pop(key, None)
        if len(pages.entries) >= ENTRIES_KEPT:
            pages.entries.pop(next(iter(pages.entries)))
        pages.entries[key] = entry
    return entry


def response(entry: Rendered) -> Response:
    """The kept page with this view's nonces, or 304 if the browser has it."""
    etag = f"{entry.digest}-{int(time.time() // ETAG_WINDOW_SECONDS)}"
    if request.if_none_match.contains(etag):
        answer = Response(status=304)
    else:
        answer = Response(_NONCES.sub(lambda _: secrets.token_urlsafe(16), entry.html), mimetype="text/html")
    answer.set_etag(etag)
    # Only the visitor's browser may keep it (its nonces are for one view), asking each time.
    answer.cache_control.private = True
    answer.cache_control.no_cache = True
    answer.vary.update(("HX-Request", "Cookie", "Accept-Language"))
    return answer


@sa_event.listens_for(Event, "after_update")
def _event_changed(mapper, connection, event: Event) -> None:
    """An event changed here (an edit, a cancel, RSVP settings): its next view renders again."""
    if has_app_context():
        _drop(event.id)


@sa_event.listens_for(EventCover, "after_insert")
@sa_event.listens_for(EventCover, "after_update")
@sa_event.listens_for(EventCover, "after_delete")
def _cover_changed(mapper, connection, cover: EventCover) -> None:
    if has_app_context():
        _drop(cover.event_id)


def _drop(event_id: int) -> None:
    """The event's kept pages, in every language."""
    entries = _kept_pages().entries
    for key, entry in list(entries.items()):
        if entry.event_id == event_id:
            entries.pop(key, None)
