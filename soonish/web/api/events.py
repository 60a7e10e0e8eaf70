"""Events over JSON."""
from flask_login import current_user

from ...services import ServiceError
from ...services import events as event_service
from ...services import lists
from ...services import notifications as notification_service
from ..auth import current_user_or_none
from .access import authorized, optionally_authorized
from .base import ApiBlueprint, service_error_response
from .paging import LINK_HEADER, EventListArgs, MyEventListArgs, NotificationListArgs, page_schema, paged
from .schemas import (
    AnnouncementIn, EventIn, EventOut, EventPatch, NotificationOut, NotificationReportOut, RecipientsArgs, RecipientsOut,
)

bp = ApiBlueprint("api_events", __name__, url_prefix="/api/v1/events", description="Events")
bp.register_error_handler(ServiceError, service_error_response)
me_bp = ApiBlueprint("api_my_events", __name__, url_prefix="/api/v1/me/events", description="Events you organize")
me_bp.register_error_handler(ServiceError, service_error_response)

EventPage = page_schema(EventOut, "EventPage")
NotificationReportPage = page_schema(NotificationReportOut, "NotificationReportPage")


@bp.get("")
@bp.arguments(EventListArgs, location="query")
@bp.response(200, EventPage, headers=LINK_HEADER)
@bp.errors(422)
def list_events(args):
    """Upcoming public events, soonest first, a page at a time."""
    limit, cursor = args.pop("limit"), args.pop("cursor", None)
    return paged(lists.public_events(lists.EventFilters(**args), limit, cursor))


@me_bp.get("")
@authorized("events:read")
@me_bp.arguments(MyEventListArgs, location="query")
@me_bp.response(200, EventPage, headers=LINK_HEADER)
@me_bp.errors(401, 403, 422)
def my_events(args):
    """The events you organize, any status, by start time, a page at a time."""
    limit, cursor = args.pop("limit"), args.pop("cursor", None)
    return paged(lists.organized_events(current_user, lists.EventFilters(**args), limit, cursor))


@bp.post("")
@authorized("events:write")
@bp.arguments(EventIn)
@bp.response(201, EventOut)
@bp.errors(400, 401, 403, 503)
def create_event(data):
    return event_service.create_event(current_user, event_service.EventFields(**data))


@bp.get("/<int:event_id>")
@optionally_authorized("events:read")
@bp.response(200, EventOut)
@bp.errors(403, 404)
def get_event(event_id):
    return event_service.get_visible_event(current_user_or_none(), event_id=event_id)


@bp.patch("/<int:event_id>")
@authorized("events:write")
@bp.arguments(EventPatch)
@bp.response(200, EventOut)
@bp.errors(400, 401, 403, 404, 409, 503)
def update_event(data, event_id):
    return event_service.update_event(current_user, event_id, data)


@bp.post("/<int:event_id>/cancel")
@authorized("events:write")
@bp.response(200, EventOut)
@bp.errors(401, 403, 404, 409, 503)
def cancel_event(event_id):
    return event_service.cancel_event(current_user, event_id)


@bp.post("/<int:event_id>/announcements")
@authorized("announce")
@bp.arguments(AnnouncementIn)
@bp.response(201, NotificationOut)
@bp.errors(400, 401, 403, 404, 409)
def announce(data, event_id):
    """Send an announcement to every subscriber of the event, on their channels."""
    return notification_service.announce(current_user, event_id, data["title"], data["body"])


@bp.get("/<int:event_id>/notifications")
@authorized("events:read")
@bp.arguments(NotificationListArgs, location="query")
@bp.response(200, NotificationReportPage, headers=LINK_HEADER)
@bp.errors(401, 403, 404, 422)
def notifications(args, event_id):
    """Per notification, newest first: deliveries by status (sent, failed, pending, skipped) and
    why some failed. `kind` keeps one kind of message (announcement, reminder, ...)."""
    page = lists.notification_reports(current_user, event_id, args.get("kind"), args["limit"], args.get("cursor"))
    return paged(page)


@bp.get("/<int:event_id>/notifications/<int:notification_id>/deliveries")
@authorized("events:read")
@bp.arguments(RecipientsArgs, location="query")
@bp.response(200, RecipientsOut)
@bp.errors(401, 403, 404)
def notification_deliveries(args, event_id, notification_id):
    """Who one notification went to: a delivery per follower and channel, failures first, with
    the outcome and why it failed. Followers' email addresses are masked."""
    return notification_service.recipients(current_user, event_id, notification_id, **args)
