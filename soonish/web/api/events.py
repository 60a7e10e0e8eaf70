"""Events over JSON."""
from flask import jsonify, make_response, request
from flask_login import current_user
from marshmallow import fields

from soonish.services import events as event_service
from soonish.services import concurrency, lists
from soonish.services import notifications as notification_service
from soonish.web.auth import current_user_or_none
from soonish.web.api.access import authorized, optionally_authorized
from soonish.web.api.base import ApiBlueprint, ErrorSchema, service_error_response
from soonish.web.api.paging import LINK_HEADER, EventListArgs, MyEventListArgs, NotificationListArgs, page_schema, paged
from soonish.web.api.schemas import (
    AnnouncementIn, CancelIn, EventIn, EventOut, EventPatch, NotificationOut, NotificationReportOut, RecipientsArgs, RecipientsOut,
)

bp = ApiBlueprint("api_events", __name__, url_prefix="/api/v1/events", description="Events")
me_bp = ApiBlueprint("api_my_events", __name__, url_prefix="/api/v1/me/events", description="Events you organize")

EventPage = page_schema(EventOut, "EventPage")
NotificationReportPage = page_schema(NotificationReportOut, "NotificationReportPage")


@bp.get("", query=EventListArgs, response=EventPage, headers=LINK_HEADER, errors=[422])
def list_events(args):
    """Upcoming public events, soonest first, a page at a time."""
    limit, cursor = args.pop("limit"), args.pop("cursor", None)
    return paged(lists.public_events(lists.EventFilters(**args), limit, cursor))


@me_bp.get("", access=authorized("events:read"), query=MyEventListArgs, response=EventPage, headers=LINK_HEADER,
           errors=[422])
def my_events(args):
    """The events you organize, any status, by start time, a page at a time."""
    limit, cursor = args.pop("limit"), args.pop("cursor", None)
    return paged(lists.organized_events(current_user, lists.EventFilters(**args), limit, cursor))


ETAG_HEADER = {"ETag": {"description": "The event's version, quoted; send it back as If-Match when changing it.",
                         "schema": {"type": "string"}}}


@bp.post("", access=authorized("events:write"), body=EventIn, status=201, response=EventOut, headers=ETAG_HEADER,
         errors=[400, 404, 503])
def create_event(data):
    community_id = data.pop("community_id", None)
    event = event_service.create_event(current_user, event_service.EventFields(**data), community_id)
    return event, 201, {"ETag": concurrency.etag(event)}


IF_MATCH = {
    "name": "If-Match", "in": "header", "required": False, "schema": {"type": "string", "maxLength": 200},
    "description": "The ETag the change is based on. If the event changed since, the answer is 412 with the current "
    "event and nothing is changed. Without it the change applies to whatever is stored (last write wins).",
}


class StaleEventOut(ErrorSchema):
    current = fields.Nested(EventOut, metadata={"description": "The event as it is now."})


def _expected_version() -> int | None:
    """The version If-Match names; None without the header (or with `*`). Weak or unparsable
    tags match no version, so they are refused rather than ignored."""
    if not request.headers.get("If-Match"):
        return None
    if request.if_match.star_tag:
        return None
    versions = [int(tag) for tag in request.if_match.as_set() if tag.isdigit()]
    return versions[0] if len(versions) == 1 else -1


@bp.get("/<int:event_id>", access=optionally_authorized("events:read"), response=EventOut, headers=ETAG_HEADER,
        errors=[404])
def get_event(event_id):
    """An event by id. An unlisted one answers 404 here to all but its organizer and those who
    follow (or followed) it: ids can be counted, its link can't. Read it by its link with
    `GET /events/by-slug/{slug}`."""
    event = event_service.get_visible_event(current_user_or_none(), event_id=event_id)
    return event, 200, {"ETag": concurrency.etag(event)}


@bp.get("/by-slug/<slug:slug>", access=optionally_authorized("events:read"), response=EventOut, headers=ETAG_HEADER,
        errors=[404])
def get_event_by_link(slug):
    """An event by its link (`/e/{slug}`): how anyone who was given an unlisted event's link reads it."""
    event = event_service.get_visible_event(current_user_or_none(), slug=slug)
    return event, 200, {"ETag": concurrency.etag(event)}


@bp.patch("/<int:event_id>", access=authorized("events:write"), body=EventPatch, response=EventOut,
          headers=ETAG_HEADER, errors=[400, 404, 409, 503])
@bp.doc(parameters=[IF_MATCH])
@bp.alt_response(412, schema=StaleEventOut, description="The event changed since the If-Match version.")
def update_event(data, event_id):
    try:
        event = event_service.update_event(current_user, event_id, data, _expected_version())
    except concurrency.VersionMismatch as stale:
        # A Response of its own: the 200 schema must not reshape this body.
        body = {**service_error_response(stale)[0], "current": EventOut().dump(stale.event)}
        return make_response(jsonify(body), 412, {"ETag": concurrency.etag(stale.event)})
    return event, 200, {"ETag": concurrency.etag(event)}


@bp.post("/<int:event_id>/cancel", access=authorized("events:write"), response=EventOut, errors=[404, 409, 503])
@bp.arguments(CancelIn, required=False)
def cancel_event(data, event_id):
    """Cancel the event; every follower is told, with the reason if one is given (the body is optional).
    Cancelling a cancelled event, also twice at the same instant, answers 200 with the event as it is
    (the reason the first cancel gave) and tells nobody again."""
    return event_service.cancel_event(current_user, event_id, data["reason"])


@bp.post("/<int:event_id>/announcements", access=authorized("announce"), body=AnnouncementIn, status=201,
         response=NotificationOut, errors=[400, 404, 409])
def announce(data, event_id):
    """Send an announcement to every subscriber of the event, on their channels."""
    return notification_service.announce(current_user, event_id, data["title"], data["body"])


@bp.get("/<int:event_id>/notifications", access=authorized("events:read"), query=NotificationListArgs,
        response=NotificationReportPage, headers=LINK_HEADER, errors=[404, 422])
def notifications(args, event_id):
    """Per notification, newest first: deliveries by status (sent, failed, pending, skipped, and
    suppressed: not sent to an address that bounced or complained) and why some failed. `kind`
    keeps one kind of message (announcement, reminder, ...). `paused_at`: the message bounced too
    often and waits for its organizer (POST .../resume or .../cancel-rest)."""
    page = lists.notification_reports(current_user, event_id, args.get("kind"), args["limit"], args.get("cursor"))
    return paged(page)


@bp.post("/<int:event_id>/notifications/<int:notification_id>/resume", access=authorized("events:write"),
         response=NotificationOut, errors=[404, 409])
def resume_notification(event_id, notification_id):
    """Send the rest of a message paused because its first mails bounced too often (over 10% of
    the first 1,000). The addresses that bounced stay suppressed; nobody gets it twice. 409 when
    it is not paused (resumed or cancelled already)."""
    return notification_service.resume(current_user, event_id, notification_id)


@bp.post("/<int:event_id>/notifications/<int:notification_id>/cancel-rest", access=authorized("events:write"),
         response=NotificationOut, errors=[404, 409])
def cancel_rest_of_notification(event_id, notification_id):
    """Send no more of a paused message: its deliveries not sent yet are skipped. 409 when it is
    not paused (resumed or cancelled already)."""
    return notification_service.cancel_rest(current_user, event_id, notification_id)


@bp.get("/<int:event_id>/notifications/<int:notification_id>/deliveries", access=authorized("events:read"),
        query=RecipientsArgs, response=RecipientsOut, errors=[404])
def notification_deliveries(args, event_id, notification_id):
    """Who one notification went to: a delivery per follower and channel, failures first, with
    the outcome and why it failed. Followers' email addresses are masked."""
    return notification_service.recipients(current_user, event_id, notification_id, **args)
