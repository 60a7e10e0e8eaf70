"""Sharing an event: its card image, and the card tags and calendar links its pages show."""
from flask import Blueprint, Response, abort, current_app, request, url_for

from .. import share
from ..links import event_path, public_url
from .events import visible_event_or_404

bp = Blueprint("share", __name__)
# Shared caches may keep the image a while; the ETag makes a revalidation after an edit cheap.
IMAGE_MAX_AGE = 600


def canonical_url(event) -> str:
    return public_url(current_app.config["PUBLIC_URL"], event_path(event.slug))


def image_url(event) -> str:
    # The version in the URL: a card crawler that caches by URL sees an edit as a new image.
    return public_url(current_app.config["PUBLIC_URL"], url_for("share.image", slug=event.slug, v=event.version))


@bp.get("/e/<slug>/share.png")
def image(slug):
    event = visible_event_or_404(slug)
    if not share.shareable(event):
        abort(404)
    response = Response(mimetype="image/png")
    response.set_etag(share.image_etag(event))
    response.cache_control.public = True
    response.cache_control.max_age = IMAGE_MAX_AGE
    if request.if_none_match.contains(share.image_etag(event)):
        response.status_code = 304
        return response
    response.set_data(share.share_image(event))
    return response


@bp.app_context_processor
def share_helpers() -> dict:
    """For templates: an event's card tags and its Google / Outlook calendar links."""
    return {
        "card_tags": lambda event: share.card_tags(event, canonical_url(event), image_url(event)),
        "calendar_links": lambda event: share.calendar_links(event, canonical_url(event)),
        "event_canonical_url": canonical_url,
    }
