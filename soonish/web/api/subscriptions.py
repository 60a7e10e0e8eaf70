"""Following events over JSON: with a token (selectors, offsets) or by email alone."""
from flask_login import current_user

from soonish.i18n import _l, current_locale
from soonish.services import ValidationFailed
from soonish.services import events as event_service
from soonish.services import lists
from soonish.services import subscriptions as subscription_service
from soonish.web.limits import subscribe_by_email_limit
from soonish.web.api.access import authorized, optionally_authorized, signed_in_or_email
from soonish.web.api.base import ApiBlueprint
from soonish.web.api.paging import LINK_HEADER, PageArgs, page_schema, paged
from soonish.web.api.schemas import SubscribeIn, SubscriptionOut, SubscriptionPatch

SubscriptionPage = page_schema(SubscriptionOut, "SubscriptionPage")

bp = ApiBlueprint("api_subscriptions", __name__, url_prefix="/api/v1", description="Subscriptions")


def answers_pending_or_unchanged(view):
    """Following by id and by link answer alike: 201 when followed now, and these two."""
    view = bp.alt_response(202, schema=SubscriptionOut, description="Pending: a confirm link was mailed")(view)
    return bp.alt_response(200, schema=SubscriptionOut,
                           description="Already subscribed: unchanged apart from the choices given")(view)


@bp.post("/events/<int:event_id>/subscriptions", access=optionally_authorized("subscriptions:write"),
         body=SubscribeIn, status=201, response=SubscriptionOut, errors=[400, 404, 409, 503])
@answers_pending_or_unchanged
@subscribe_by_email_limit()
def subscribe(data, event_id):
    """Follow an event. Signed in: active at once. Anonymous: give `email`; a confirm mail is sent.
    An unlisted event answers 404 by id (but to its organizer and followers): follow it by its
    link with `POST /events/by-slug/{slug}/subscriptions`."""
    return _follow(data, event_id=event_id)


@bp.post("/events/by-slug/<slug:slug>/subscriptions", access=optionally_authorized("subscriptions:write"),
         body=SubscribeIn, status=201, response=SubscriptionOut, errors=[400, 404, 409, 503])
@answers_pending_or_unchanged
@subscribe_by_email_limit()
def subscribe_by_link(data, slug):
    """Follow the event its link (`/e/{slug}`) names, an unlisted one too; as `POST /events/{event_id}/subscriptions`.
    Once you follow it, its id works for you as for a public event (reading it, RSVPs)."""
    return _follow(data, slug=slug)


def _follow(data, event_id: int | None = None, slug: str | None = None):
    user = signed_in_or_email(data)
    if user is None:
        event = event_service.get_visible_event(None, event_id=event_id, slug=slug)
        # Their mails are written in the language the request asks for (Accept-Language).
        return subscription_service.subscribe_by_email(
            event, data["email"], name=data.get("name", ""), going=data["going"], listed=data["listed"],
            locale=current_locale()), 202
    if data["going"]:
        # One act with one answer: the RSVP's own endpoint says going, waitlisted or refused.
        raise ValidationFailed.field("going", _l("Signed in, say you're going with %(request)s: it follows the event too.",
                                                request="PUT /api/v1/events/{event_id}/rsvp"))
    subscription, newly_active = subscription_service.subscribe(
        user, event_id, data.get("selectors"), data.get("reminder_offsets"), slug=slug
    )
    return subscription, 201 if newly_active else 200


@bp.get("/me/subscriptions", access=authorized("subscriptions:read"), query=PageArgs, response=SubscriptionPage,
        headers=LINK_HEADER, errors=[422])
def my_subscriptions(args):
    """The events you follow (pending or active), oldest subscription first, a page at a time."""
    return paged(lists.my_subscriptions(current_user, args["limit"], args.get("cursor")))


@bp.get("/subscriptions/<int:subscription_id>", access=authorized("subscriptions:read"), response=SubscriptionOut,
        errors=[404])
def get_subscription(subscription_id):
    """One of your subscriptions. After DELETE it is gone: GET, PATCH and DELETE answer 404, and
    following the event again is a new `POST /events/{id}/subscriptions` (with default choices)."""
    return subscription_service.get_following(current_user, subscription_id)


@bp.patch("/subscriptions/<int:subscription_id>", access=authorized("subscriptions:write"), body=SubscriptionPatch,
          response=SubscriptionOut, errors=[400, 404])
def update_subscription(data, subscription_id):
    return subscription_service.update(current_user, subscription_id, data)


@bp.delete("/subscriptions/<int:subscription_id>", access=authorized("subscriptions:write"), status=204,
           errors=[404])
def unsubscribe(subscription_id):
    """Stop following. The subscription then reads as gone (404) to GET, PATCH and DELETE."""
    subscription_service.unsubscribe(subscription_service.get_following(current_user, subscription_id))
