"""Calendar files: "add to calendar" for one event, and each user's secret feed URL."""
from flask import Blueprint, Response, url_for

from soonish.i18n import _
from soonish.models import Event
from soonish.services import calendar as calendar_service
from soonish.web.actions import Action, add_actions
from soonish.web.events import visible_event_or_404

bp = Blueprint("calendar", __name__)


def _event_url(event: Event) -> str:
    return url_for("events.show", slug=event.slug, _external=True)


def _ics(body: bytes, **headers) -> Response:
    return Response(body, mimetype="text/calendar", headers=headers)


@bp.get("/events/<slug>.ics")
def event_ics(slug):
    event = visible_event_or_404(slug)
    return _ics(
        calendar_service.event_calendar(event, _event_url),
        **{"Content-Disposition": f'attachment; filename="{event.slug}.ics"'},
    )


@bp.get("/calendar/<token>.ics")
def feed(token):
    owner = calendar_service.feed_owner(token)
    # The URL is the secret: keep the feed out of shared caches.
    return _ics(calendar_service.feed_calendar(owner, _event_url), **{"Cache-Control": "private, max-age=300"})


add_actions(
    bp,
    Action("/calendar/feed", "rotate_feed", calendar_service.rotate_feed_token,
           lambda token: _("Your calendar feed is ready. Add its URL to your calendar app; any older feed URL has "
                           "stopped working."), "account.show", "success"),
    Action("/calendar/feed/revoke", "revoke_feed", calendar_service.revoke_feed_token,
           lambda revoked: _("Your calendar feed is switched off. Calendar apps using it will stop updating."),
           "account.show"),
)


def feed_url(token: str) -> str:
    return url_for("calendar.feed", token=token, _external=True)
