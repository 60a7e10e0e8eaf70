"""Events over JSON."""
from flask_login import current_user, login_required

from ...services import ServiceError
from ...services import events as event_service
from ...services import notifications as notification_service
from ..auth import current_user_or_none
from .base import ApiBlueprint, service_error_response
from .schemas import (
    AnnouncementIn, CancelIn, EventIn, EventOut, EventPatch, NotificationOut, NotificationReportOut, RecipientsArgs, RecipientsOut,
)

bp = ApiBlueprint("api_events", __name__, url_prefix="/api/v1/events", description="Events")
bp.register_error_handler(ServiceError, service_error_response)


@bp.get("")
@bp.response(200, EventOut(many=True))
@bp.errors()
def list_events():
    """Upcoming public events, soonest first."""
    return event_service.list_upcoming_public_events()


@bp.post("")
@login_required
@bp.arguments(EventIn)
@bp.response(201, EventOut)
@bp.errors(400, 401, 503)
def create_event(data):
    return event_service.create_event(current_user, event_service.EventFields(**data))


@bp.get("/<int:event_id>")
@bp.response(200, EventOut)
@bp.errors(404)
def get_event(event_id):
    return event_service.get_visible_event(current_user_or_none(), event_id=event_id)


@bp.patch("/<int:event_id>")
@login_required
@bp.arguments(EventPatch)
@bp.response(200, EventOut)
@bp.errors(400, 401, 403, 404, 409, 503)
def update_event(data, event_id):
    return event_service.update_event(current_user, event_id, data)


@bp.post("/<int:event_id>/cancel")
@login_required
@bp.arguments(CancelIn, required=False)
@bp.response(200, EventOut)
@bp.errors(401, 403, 404, 409, 503)
def cancel_event(data, event_id):
    """Cancel the event; every follower is told, with the reason if one is given (the body is optional)."""
    return event_service.cancel_event(current_user, event_id, data["reason"])


@bp.post("/<int:event_id>/announcements")
@login_required
@bp.arguments(AnnouncementIn)
@bp.response(201, NotificationOut)
@bp.errors(400, 401, 403, 404, 409)
def announce(data, event_id):
    """Send an announcement to every subscriber of the event, on their channels."""
    return notification_service.announce(current_user, event_id, data["title"], data["body"])


@bp.get("/<int:event_id>/notifications")
@login_required
@bp.response(200, NotificationReportOut(many=True))
@bp.errors(401, 403, 404)
def notifications(event_id):
    """Per notification: deliveries by status (sent, failed, pending, skipped) and why some failed."""
    return notification_service.delivery_reports(current_user, event_id)


@bp.get("/<int:event_id>/notifications/<int:notification_id>/deliveries")
@login_required
@bp.arguments(RecipientsArgs, location="query")
@bp.response(200, RecipientsOut)
@bp.errors(401, 403, 404)
def notification_deliveries(args, event_id, notification_id):
    """Who one notification went to: a delivery per follower and channel, failures first, with
    the outcome and why it failed. Followers' email addresses are masked."""
    return notification_service.recipients(current_user, event_id, notification_id, **args)
