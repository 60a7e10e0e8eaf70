"""Web Push over JSON: the VAPID public key, "Notify me on this device" (a browser's push
subscription becomes a channel for a follow), stopping it, and a notification button's answer."""
from flask import request
from marshmallow import Schema, fields, validate

from soonish.domain.push import AUTH_BYTES, ENDPOINT_MAX, P256DH_BYTES
from soonish.services import push as push_service
from soonish.web.auth import current_user_or_none
from soonish.web.api.access import optionally_authorized
from soonish.web.api.base import ApiBlueprint

bp = ApiBlueprint("api_push", __name__, url_prefix="/api/v1", description="Web Push (notifications on a device)")


class PushKeyOut(Schema):
    public_key = fields.String(metadata={
        "description": "The VAPID public key (P-256, uncompressed, base64url): `applicationServerKey` for "
                       "`PushManager.subscribe()`."})


class PushKeysIn(Schema):
    p256dh = fields.String(required=True, validate=validate.Length(min=1, max=120), metadata={
        "description": f"The browser's P-256 public key: {P256DH_BYTES} bytes (uncompressed point), base64url."})
    auth = fields.String(required=True, validate=validate.Length(min=1, max=40), metadata={
        "description": f"The browser's auth secret: {AUTH_BYTES} bytes, base64url."})


class PushSubscriptionIn(Schema):
    """``PushSubscription.toJSON()`` as the browser gives it."""

    endpoint = fields.String(required=True, validate=validate.Length(min=1, max=ENDPOINT_MAX), metadata={
        "description": "The push service's URL for this browser: https, a public host (same rules as webhooks)."})
    expirationTime = fields.Raw(allow_none=True, metadata={"description": "As the browser gives it; not used."})  # noqa: N815
    keys = fields.Nested(PushKeysIn, required=True)


class DeviceFollowIn(Schema):
    subscription = fields.Nested(PushSubscriptionIn, required=True)


class DeviceFollowOut(Schema):
    subscription_id = fields.Integer(attribute="subscription.id")
    event_id = fields.Integer(attribute="subscription.event_id")
    status = fields.Function(lambda r: r["subscription"].status.value)
    channel_id = fields.Integer(attribute="device.id", metadata={
        "description": "The device's channel: signed in, it is on your Channels page (rename, test, remove)."})
    device_name = fields.String(attribute="device.name", metadata={"description": 'e.g. "Chrome on Android".'})


class DeviceStopIn(Schema):
    endpoint = fields.String(required=True, validate=validate.Length(min=1, max=ENDPOINT_MAX))


class PushAnswerIn(Schema):
    token = fields.String(required=True, validate=validate.Length(min=1, max=500), metadata={
        "description": "The notification's `answer_token` (signed; works once)."})
    answer = fields.String(required=True, validate=validate.Length(min=1, max=20), metadata={
        "description": "going or no for an RSVP; confirm or no for the still-coming check."})


class PushAnswerOut(Schema):
    answer = fields.String(metadata={"description": "As recorded: going, no, waitlisted (going while full)."})


@bp.get("/push/key", response=PushKeyOut, errors=[503])
def key():
    """The key browsers subscribe with; 503 when this server has no VAPID key."""
    return {"public_key": push_service.public_key()}


def _follow(data, event_id=None, slug=None):
    subscription, device, newly = push_service.follow_on_device(
        current_user_or_none(), data["subscription"], request.headers.get("User-Agent", ""), event_id, slug)
    return {"subscription": subscription, "device": device}, 201 if newly else 200


@bp.post("/events/<int:event_id>/devices", access=optionally_authorized("subscriptions:write"), body=DeviceFollowIn,
         status=201, response=DeviceFollowOut, errors=[404, 503])
@bp.alt_response(200, schema=DeviceFollowOut, description="Followed already: this device is now one of its routes")
def follow_on_device(data, event_id):
    """Notify me on this device: the browser's push subscription becomes a channel ("Chrome on
    Android") this follow goes to. Anyone may, signed in or not; the same browser again finds its
    channel. 422 names the field at fault: a malformed or non-https endpoint, a private address,
    keys of the wrong length."""
    return _follow(data, event_id=event_id)


@bp.post("/events/by-slug/<slug:slug>/devices", access=optionally_authorized("subscriptions:write"),
         body=DeviceFollowIn, status=201, response=DeviceFollowOut, errors=[404, 503])
@bp.alt_response(200, schema=DeviceFollowOut, description="Followed already: this device is now one of its routes")
def follow_on_device_by_link(data, slug):
    """As `POST /events/{event_id}/devices`, for the event its link names (an unlisted one too)."""
    return _follow(data, slug=slug)


@bp.post("/events/<int:event_id>/devices/stop", body=DeviceStopIn, status=204, errors=[404])
def stop_on_device(data, event_id):
    """Stop this device's notifications about the event; the follow ends when the device was its
    only route. The endpoint, which only the browser knows, proves the device."""
    push_service.stop_on_device(data["endpoint"], event_id=event_id)


class DeviceSeriesFollowOut(Schema):
    series_id = fields.Integer(attribute="follow.series_id")
    channel_id = fields.Integer(attribute="device.id", metadata={
        "description": "The device's channel: signed in, it is on your Channels page (rename, test, remove)."})
    device_name = fields.String(attribute="device.name", metadata={"description": 'e.g. "Chrome on Android".'})


@bp.post("/series/by-slug/<slug:slug>/devices", access=optionally_authorized("subscriptions:write"),
         body=DeviceFollowIn, status=201, response=DeviceSeriesFollowOut, errors=[404, 503])
@bp.alt_response(200, schema=DeviceSeriesFollowOut, description="Followed already: this device is now one of its routes")
def follow_series_on_device(data, slug):
    """Notify me on this device about every occurrence of the series its link names, made now
    and later; as `POST /events/{event_id}/devices` otherwise (same 422s)."""
    follow, device, is_new = push_service.follow_series_on_device(
        current_user_or_none(), data["subscription"], request.headers.get("User-Agent", ""), slug=slug)
    return {"follow": follow, "device": device}, 201 if is_new else 200


@bp.post("/series/by-slug/<slug:slug>/devices/stop", body=DeviceStopIn, status=204, errors=[404])
def stop_series_on_device(data, slug):
    """Stop this device's notifications about the series; the follow ends when the device was
    its only route."""
    push_service.stop_series_on_device(data["endpoint"], slug=slug)


@bp.post("/push/answers", body=PushAnswerIn, response=PushAnswerOut, errors=[404, 409])
def answer(data):
    """A push notification's button: RSVP (going, no) or the still-coming check (confirm, no).
    The token names the delivery and works once (409 after); no cookie needed."""
    return {"answer": push_service.answer(data["token"], data["answer"])}
