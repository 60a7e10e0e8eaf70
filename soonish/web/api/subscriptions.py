"""Following events over JSON: with a token (selectors, offsets) or by email alone."""
from flask_login import current_user, login_required

from ...services import ServiceError, ValidationFailed
from ...services import events as event_service
from ...services import subscriptions as subscription_service
from ..auth import current_user_or_none
from ..limits import subscribe_by_email_limit
from .base import ApiBlueprint, service_error_response
from .schemas import SubscribeIn, SubscriptionOut, SubscriptionPatch

bp = ApiBlueprint("api_subscriptions", __name__, url_prefix="/api/v1", description="Subscriptions")
bp.register_error_handler(ServiceError, service_error_response)


@bp.post("/events/<int:event_id>/subscriptions")
@bp.arguments(SubscribeIn)
@bp.response(201, SubscriptionOut)
@bp.alt_response(202, schema=SubscriptionOut, description="Pending: a confirm link was mailed")
@bp.alt_response(200, schema=SubscriptionOut, description="Already subscribed: unchanged apart from the choices given")
@bp.errors(400, 404, 409, 503)
@subscribe_by_email_limit()
def subscribe(data, event_id):
    """Follow an event. Signed in: active at once. Anonymous: give `email`; a confirm mail is sent."""
    user = current_user_or_none()
    if user is None:
        if not data.get("email"):
            raise ValidationFailed.field("email", "Sign in, or give an email address to follow by email.")
        event = event_service.get_visible_event(None, event_id=event_id)
        return subscription_service.subscribe_by_email(event, data["email"]), 202
    subscription, newly_active = subscription_service.subscribe(
        user, event_id, data.get("selectors"), data.get("reminder_offsets")
    )
    return subscription, 201 if newly_active else 200


@bp.get("/me/subscriptions")
@login_required
@bp.response(200, SubscriptionOut(many=True))
@bp.errors(401)
def my_subscriptions():
    return subscription_service.list_mine(current_user)


@bp.patch("/subscriptions/<int:subscription_id>")
@login_required
@bp.arguments(SubscriptionPatch)
@bp.response(200, SubscriptionOut)
@bp.errors(400, 401, 404)
def update_subscription(data, subscription_id):
    return subscription_service.update(current_user, subscription_id, data)


@bp.delete("/subscriptions/<int:subscription_id>")
@login_required
@bp.response(204)
@bp.errors(401, 404)
def unsubscribe(subscription_id):
    subscription_service.unsubscribe(subscription_service.get_own(current_user, subscription_id))
