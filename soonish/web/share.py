"""Sharing an event: its card image, and the card tags and calendar links its pages show."""
from flask import (
    Blueprint, Response, abort, current_app, flash, g, redirect, request, session, url_for,
)
from flask_login import current_user, login_required

from soonish.domain import avatars, share
from soonish.domain.communities import Action, may
from soonish.i18n import _, current_locale, render_in, supported
from soonish.links import event_path, public_url
from soonish.domain.messages import map_url
from soonish.models import SubscriptionStatus, utcnow
from soonish.services import ValidationFailed
from soonish.services import covers as cover_service
from soonish.services import events as event_service
from soonish.services import subscriptions as subscription_service
from soonish.web.assets import IMMUTABLE
from soonish.web.errors import refusal_flashed
from soonish.web.auth import current_user_or_none
from soonish.web.events import visible_event_or_404
from soonish.web.request_bounds import body_limit
from soonish.web.subscriptions import EMAIL_FOLLOWS

bp = Blueprint("share", __name__)
# Shared caches may keep an image asked for without its version a while; the ETag makes a
# revalidation after an edit cheap.
IMAGE_MAX_AGE = 600


def canonical_url(event) -> str:
    return public_url(current_app.config["PUBLIC_URL"], event_path(event.slug))


def shown_cover_etag(event) -> str | None:
    """The cover's ETag, read once per request: a page shows the cover and names it in its card."""
    known = g.setdefault("cover_etags", {})
    if event.id not in known:
        known[event.id] = cover_service.cover_etag(event)
    return known[event.id]


def image_url(event) -> str:
    """The share card (over the cover when there is one), in the page's language. What it shows
    is in the URL (its ETag, so the image route answers it as immutable, and its language: a
    crawler fetches the image without the page's Accept-Language): a card crawler that caches by
    URL sees a change as a new image."""
    locale = current_locale()
    path = url_for("share.image", slug=event.slug, v=share.image_etag(event, shown_cover_etag(event), locale),
                   lang=locale)
    return public_url(current_app.config["PUBLIC_URL"], path)


def _cached(response: Response, etag: str, public: bool) -> Response:
    response.set_etag(etag)
    if public and request.args.get("v") == etag:
        # The URL names this very image (pages link to it so): a change gets another URL.
        response.headers["Cache-Control"] = IMMUTABLE
        return response
    response.cache_control.public = public
    response.cache_control.private = not public
    response.cache_control.max_age = IMAGE_MAX_AGE
    return response


@bp.get("/e/<slug>/cover.jpg")
def cover(slug):
    event = visible_event_or_404(slug)
    etag = cover_service.cover_etag(event)
    if etag is None:
        abort(404)
    response = _cached(Response(mimetype="image/jpeg"), etag, share.shareable(event))
    if request.if_none_match.contains(etag):
        response.status_code = 304
        return response
    response.set_data(cover_service.get_cover(event).image)
    return response


@bp.post("/events/<int:event_id>/cover")
# Refuse big bodies before they are read (the limit counts the form's other parts too).
@body_limit(share.COVER_MAX_BYTES + 64 * 1024)
@login_required
def upload_cover(event_id):
    upload = request.files.get("cover")
    # Not theirs (403), or no such event (404): the error page.
    with refusal_flashed(ValidationFailed):
        cover_service.set_cover(current_user, event_id, upload.read(share.COVER_MAX_BYTES + 1) if upload else b"")
        flash(_("Cover image saved. It shows on the event page and when the link is shared."), "success")
    return redirect(_event_page(event_id))


@bp.post("/events/<int:event_id>/cover/delete")
@login_required
def delete_cover(event_id):
    cover_service.remove_cover(current_user, event_id)
    flash(_("Cover image removed."), "info")
    return redirect(_event_page(event_id))


def _event_page(event_id: int) -> str:
    return url_for("events.show", slug=event_service.get_event_for_organizer(current_user, event_id).slug)


@bp.get("/e/<slug>/share.png")
def image(slug):
    event = visible_event_or_404(slug)
    if not share.shareable(event):
        abort(404)
    # The language the linking page was in, else the asker's.
    with render_in(supported(request.args.get("lang")) or current_locale()) as locale:
        etag = share.image_etag(event, shown_cover_etag(event), locale)
        response = _cached(Response(mimetype="image/png"), etag, public=True)
        # Without a language in its URL the image is in the one the request asks for.
        response.vary.add("Accept-Language")
        if request.if_none_match.contains(etag):
            response.status_code = 304
            return response
        cover = cover_service.get_cover(event) if shown_cover_etag(event) else None
        response.set_data(share.share_image(event, cover.image if cover else None))
    return response


def join_link(event) -> str | None:
    """The event's online link if this viewer may see it now: its organizer always, a follower
    from 15 minutes before the start."""
    if not event.online_url:
        return None
    user = current_user_or_none()
    if may(user, Action.VIEW_PRIVATE, event):
        return event.online_url
    if not share.join_open(event, utcnow()):
        return None
    subscription = subscription_service.find_mine(user, event) if user is not None else None
    following = (subscription is not None and subscription.status == SubscriptionStatus.ACTIVE) \
        or bool(session.get(EMAIL_FOLLOWS, {}).get(str(event.id), {}).get("confirmed"))
    return event.online_url if following else None


@bp.app_context_processor
def share_helpers() -> dict:
    """For templates: an event's card tags, calendar links, map link, Join link and follower count."""
    return {
        "join_link": join_link,
        "map_url": map_url,
        "public_follower_count": lambda event: (
            subscription_service.count_active(event) if event.show_follower_count and share.shareable(event) else None),
        "card_tags": lambda event: share.card_tags(event, canonical_url(event), image_url(event)),
        "calendar_links": lambda event: share.calendar_links(event, canonical_url(event)),
        "event_canonical_url": canonical_url,
        "cover_url": lambda event: (url_for("share.cover", slug=event.slug, v=etag)
                                    if (etag := shown_cover_etag(event)) else None),
        "event_visual": lambda event: avatars.event_visual_data_uri(share.visual_seed(event)),
        "avatar_url": lambda user: avatars.identicon_data_uri(f"user:{user.id}"),
    }
