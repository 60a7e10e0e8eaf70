"""RSVPs over JSON: answer going / maybe / no; the organizer's counts, list and settings."""
from flask_login import current_user
from marshmallow import Schema, fields, validate

from soonish.field_limits import CAPACITY_MAX
from soonish.services import events as event_service
from soonish.services import rsvp as rsvp_service
from soonish.services import subscriptions as subscription_service
from soonish.web.extensions import login_manager
from soonish.web.api.access import authorized, optionally_authorized
from soonish.web.api.base import ApiBlueprint
from soonish.web.api.paging import LINK_HEADER, PageArgs, page_schema, paged

bp = ApiBlueprint("api_rsvp", __name__, url_prefix="/api/v1/events", description="RSVPs")


class RsvpIn(Schema):
    answer = fields.String(required=True, validate=validate.OneOf(sorted(rsvp_service.CHOICES)),
                           metadata={"description": "going, maybe or no (can't go). Going also follows the event "
                                                    "(default channels and reminders) if you don't follow it yet."})
    listed = fields.Boolean(load_default=None, allow_none=True, metadata={
        "description": "Whether your name may show on the event page among those going (omitted: unchanged)."})
    manage_token = fields.String(load_default=None, validate=validate.Length(max=500), metadata={
        "description": "Without signing in: the token of the manage link in your mails about this event "
                       "(/s/manage/<token>), for people who follow by email without an account."})


class RsvpOut(Schema):
    event_id = fields.Integer()
    answer = fields.Function(lambda r: r.answer.value, metadata={
        "description": "going, maybe, no, or waitlisted (said going while the event was full)"})
    offer_expires_at = fields.DateTime(allow_none=True, metadata={
        "description": "Set while a freed place is held for this waitlisted person: answer going to take it."})
    answered_at = fields.DateTime()
    listed = fields.Boolean(metadata={"description": "Whether your name shows on the event page among those going."})


class RsvpCountsOut(Schema):
    going = fields.Integer()
    confirmed = fields.Integer(metadata={"description": "Of those going, who said yes to the still-coming check for the current start."})
    maybe = fields.Integer()
    no = fields.Integer(attribute="not_going")
    waitlisted = fields.Integer()
    no_answer = fields.Integer(metadata={"description": "Active followers who haven't answered."})
    capacity = fields.Integer(allow_none=True)
    places_held = fields.Integer(metadata={
        "description": "Places offered to someone on the waitlist and not taken yet: neither free nor going."})
    places_left = fields.Integer(allow_none=True, metadata={
        "description": "Free places: capacity less those going and the places held; null without a capacity."})


class RsvpRowOut(Schema):
    id = fields.Integer(metadata={"description": "The answer's id; it stays when the person changes their answer."})
    follower = fields.String(metadata={"description": "Display name, or the email address masked (a•••@example.com)."})
    answer = fields.String(metadata={
        "description": "going, maybe or no (the values PUT …/rsvp takes), or waitlisted (said going while full)."})
    answer_label = fields.String(metadata={"description": "As pages show it: Going, Maybe, Can't go, On the waitlist."})
    answered_at = fields.DateTime()


class RsvpListOut(page_schema(RsvpRowOut, "RsvpRowPage")):
    counts = fields.Nested(RsvpCountsOut, allow_none=True, metadata={
        "description": "The whole list's counts, on the first page (without cursor); null on the next pages."})


class RsvpSettingsIn(Schema):
    enabled = fields.Boolean(load_default=True)
    capacity = fields.Integer(allow_none=True, load_default=None, strict=True,
                              validate=validate.Range(min=1, max=CAPACITY_MAX, error=f"Capacity must be from 1 to {CAPACITY_MAX}."),
                              metadata={"description": "Places for going; null for no limit."})


class RsvpSettingsOut(Schema):
    rsvp_enabled = fields.Boolean()
    capacity = fields.Integer(allow_none=True)


@bp.put("/<int:event_id>/rsvp", access=optionally_authorized("subscriptions:write"), body=RsvpIn, response=RsvpOut,
        errors=[400, 401, 404, 409])
def answer(data, event_id):
    """Say whether you're coming, signed in or with an email follower's `manage_token`. Changing
    your answer is possible until the start; "going" on a full event puts you on the waitlist
    (answer: waitlisted), and going follows the event if you don't yet."""
    if not current_user.is_authenticated:
        if not data["manage_token"]:
            return login_manager.unauthorized()
        return subscription_service.answer_by_manage_token(data["manage_token"], event_id, data["answer"],
                                                           data["listed"])
    event = event_service.get_visible_event(current_user, event_id=event_id)
    return rsvp_service.answer(current_user, event, data["answer"], listed=data["listed"])


@bp.get("/<int:event_id>/rsvps", access=authorized("events:read"), query=PageArgs, response=RsvpListOut,
        headers=LINK_HEADER, errors=[404, 422])
def answers(args, event_id):
    """The organizer's view: who answered what, a page at a time in the order they first answered,
    and on the first page the counts (going / maybe / no / waitlisted / no answer / places)."""
    cursor = args.get("cursor")
    page = rsvp_service.roster_page(current_user, event_id, args["limit"], cursor)
    return paged(page, counts=None if cursor else rsvp_service.organizer_counts(current_user, event_id))


@bp.put("/<int:event_id>/rsvp-settings", access=authorized("events:write"), body=RsvpSettingsIn,
        response=RsvpSettingsOut, errors=[400, 404, 409])
def settings(data, event_id):
    """Turn RSVPs on or off and set the number of places (null: no limit)."""
    return rsvp_service.set_capacity(current_user, event_id, data["capacity"], enabled=data["enabled"])
