"""Sharing an event: its card image, and the card tags and calendar links its pages show."""
from flask import Blueprint, Response, abort, current_app, request, session, url_for

from .. import share
from ..links import event_path, public_url
from ..messages import map_url
from ..models import SubscriptionStatus, utcnow
from ..services import subscriptions as subscription_service
from .auth import current_user_or_none
from .events import visible_event_or_404
from .subscriptions import EMAIL_FOLLOWS

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


def join_link(event) -> str | None:
    """The event's online link if this viewer may see it now: its organizer always, a follower
    from 15 minutes before the start."""
    if not event.online_url:
        return None
    user = current_user_or_none()
    if user is not None and user.id == event.organizer_id:
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
    }
