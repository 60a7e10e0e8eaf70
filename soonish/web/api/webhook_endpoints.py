"""Outgoing webhook endpoints over JSON: register, list, change, remove; each one's messages
with their attempts, and resend."""
from flask_login import current_user
from marshmallow import Schema, fields, validate

from soonish.field_limits import ENDPOINT_DESCRIPTION_MAX, ENDPOINT_URL_MAX
from soonish.domain.outgoing_webhooks import EVENT_TYPES
from soonish.services import webhook_endpoints as endpoint_service
from soonish.web.api.access import authorized
from soonish.web.api.base import ApiBlueprint
from soonish.web.api.idempotency import ShownOnce
from soonish.web.api.paging import LINK_HEADER, PageArgs, page_schema, paged

bp = ApiBlueprint("api_webhook_endpoints", __name__, url_prefix="/api/v1/webhook-endpoints",
                  description="Outgoing webhooks: Soonish tells your endpoints what happens, signed per Standard Webhooks")

EVENT_TYPE = fields.String(validate=validate.OneOf(list(EVENT_TYPES)))
SCOPE = "webhooks:write"


URL_FIELD = {"validate": validate.Length(min=1, max=ENDPOINT_URL_MAX),
             "metadata": {"description": "http(s) URL on a public host; redirects are not followed."}}
TYPES_FIELD = {"validate": validate.Length(min=1, max=len(EVENT_TYPES)),
               "metadata": {"description": "; ".join(f"`{k}`: {v}" for k, v in EVENT_TYPES.items())}}


class EndpointIn(Schema):
    class Meta:
        unknown = "raise"

    url = fields.String(required=True, **URL_FIELD)
    event_types = fields.List(EVENT_TYPE, required=True, **TYPES_FIELD)
    description = fields.String(load_default="", validate=validate.Length(max=ENDPOINT_DESCRIPTION_MAX))


class EndpointPatch(Schema):
    class Meta:
        unknown = "raise"

    url = fields.String(**URL_FIELD)
    event_types = fields.List(EVENT_TYPE, **TYPES_FIELD)
    description = fields.String(validate=validate.Length(max=ENDPOINT_DESCRIPTION_MAX))
    is_active = fields.Boolean(metadata={"description": "Enable again after fixing a disabled endpoint."})


class EndpointOut(Schema):
    id = fields.Integer()
    url = fields.String()
    description = fields.String()
    event_types = fields.List(fields.String())
    is_active = fields.Boolean()
    disabled_reason = fields.String(allow_none=True, metadata={"description": "Why Soonish disabled it, if it did."})
    created_at = fields.DateTime()


class EndpointCreatedOut(EndpointOut):
    secret = ShownOnce(metadata={"description": "The whsec_ signing secret: verify deliveries with it (any Standard "
                                 "Webhooks library); `GET .../{endpoint_id}/secret` reads it again."})


class WebhookAttemptOut(Schema):
    attempted_at = fields.DateTime()
    status_code = fields.Integer(allow_none=True, metadata={"description": "The endpoint's HTTP status; null if none."})
    error = fields.String(allow_none=True)
    succeeded = fields.Boolean()


class WebhookMessageOut(Schema):
    id = fields.Integer()
    msg_id = fields.String(metadata={"description": "The webhook-id header: the same on every attempt and resend."})
    event_type = fields.String()
    payload = fields.Dict()
    status = fields.Function(lambda m: m.status.value, metadata={"description": "pending, delivered or failed"})
    next_attempt_at = fields.DateTime(allow_none=True)
    created_at = fields.DateTime()
    attempts = fields.List(fields.Nested(WebhookAttemptOut))


EndpointPage = page_schema(EndpointOut, "WebhookEndpointPage")
MessagePage = page_schema(WebhookMessageOut, "WebhookMessagePage")


@bp.post("", access=authorized(SCOPE), body=EndpointIn, status=201, response=EndpointCreatedOut, errors=[400])
def create_endpoint(data):
    endpoint, secret = endpoint_service.create_endpoint(current_user, data["url"], data["event_types"], data["description"])
    endpoint.secret = secret  # for this answer; also readable later from GET .../{id}/secret
    return endpoint


@bp.get("", access=authorized(SCOPE), query=PageArgs, response=EndpointPage, headers=LINK_HEADER, errors=[422])
def list_endpoints(args):
    return paged(endpoint_service.endpoints_page(current_user, args["limit"], args.get("cursor")))


@bp.get("/<int:endpoint_id>", access=authorized(SCOPE), response=EndpointOut, errors=[404])
def get_endpoint(endpoint_id):
    return endpoint_service.get_endpoint(current_user, endpoint_id)


@bp.get("/<int:endpoint_id>/secret", access=authorized(SCOPE),
        response=Schema.from_dict({"secret": fields.String()}, name="WebhookSecretOut"), errors=[404])
def get_secret(endpoint_id):
    """The endpoint's signing secret."""
    return {"secret": endpoint_service.secret_of(endpoint_service.get_endpoint(current_user, endpoint_id))}


@bp.patch("/<int:endpoint_id>", access=authorized(SCOPE), body=EndpointPatch, response=EndpointOut,
          errors=[400, 404])
def update_endpoint(data, endpoint_id):
    return endpoint_service.update_endpoint(current_user, endpoint_id, data)


@bp.delete("/<int:endpoint_id>", access=authorized(SCOPE), status=204, errors=[404])
def delete_endpoint(endpoint_id):
    endpoint_service.delete_endpoint(current_user, endpoint_id)


@bp.get("/<int:endpoint_id>/messages", access=authorized(SCOPE), query=PageArgs, response=MessagePage,
        headers=LINK_HEADER, errors=[404, 422])
def list_messages(args, endpoint_id):
    """What was sent to the endpoint, newest first: each message's status, next retry and attempts."""
    return paged(endpoint_service.messages_page(current_user, endpoint_id, args["limit"], args.get("cursor")))


@bp.post("/<int:endpoint_id>/messages/<int:message_id>/resend", access=authorized(SCOPE), status=202,
         response=WebhookMessageOut, errors=[404])
def resend(endpoint_id, message_id):
    """Deliver the message again now (same webhook-id), with a fresh retry window."""
    return endpoint_service.resend(current_user, endpoint_id, message_id)
