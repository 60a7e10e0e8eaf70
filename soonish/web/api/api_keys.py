"""Personal API keys over JSON. Managed with a session or a JWT only: a key can't mint keys."""
from flask_login import current_user
from marshmallow import Schema, fields, validate

from soonish.services import api_keys, lists
from soonish.web.api.access import account_only
from soonish.web.api.base import ApiBlueprint
from soonish.web.api.idempotency import ShownOnce
from soonish.web.api.paging import LINK_HEADER, PageArgs, page_schema, paged

bp = ApiBlueprint("api_keys", __name__, url_prefix="/api/v1/api-keys", description="Personal API keys")


class ApiKeyIn(Schema):
    class Meta:
        unknown = "raise"

    name = fields.String(required=True, validate=validate.Length(min=1, max=80))
    scopes = fields.List(fields.String(validate=validate.OneOf(list(api_keys.SCOPES))), required=True,
                         validate=validate.Length(min=1, max=len(api_keys.SCOPES)))
    expires_at = fields.AwareDateTime(allow_none=True, metadata={
        "description": "With its offset; in the future, and in the years 1-9999 once in UTC (422 otherwise). Absent "
                       "or null: never expires."})


class ApiKeyOut(Schema):
    id = fields.Integer()
    name = fields.String()
    prefix = fields.String(metadata={"description": "The key's first characters, to tell keys apart."})
    scopes = fields.List(fields.String())
    expires_at = fields.DateTime(allow_none=True)
    last_used_at = fields.DateTime(allow_none=True)
    created_at = fields.DateTime()


class ApiKeyCreatedOut(ApiKeyOut):
    key = ShownOnce(attribute="plaintext", metadata={"description": "The key itself (sk_...); send it as "
                                                     "`Authorization: Bearer sk_...`."})


ApiKeyPage = page_schema(ApiKeyOut, "ApiKeyPage")


@bp.post("", access=account_only, body=ApiKeyIn, status=201, response=ApiKeyCreatedOut, errors=[400])
def create_key(data):
    """A new key with the scopes given. Its text is in this answer only: store it now."""
    key, plain = api_keys.create_key(current_user, data["name"], data["scopes"], data.get("expires_at"))
    key.plaintext = plain  # for this answer only; never stored
    return key


@bp.get("", access=account_only, query=PageArgs, response=ApiKeyPage, headers=LINK_HEADER, errors=[422])
def list_keys(args):
    """Your keys that are not revoked, oldest first."""
    return paged(lists.my_api_keys(current_user, args["limit"], args.get("cursor")))


@bp.delete("/<int:key_id>", access=account_only, status=204, errors=[404])
def revoke_key(key_id):
    """Revoke a key: it is refused from the next request on."""
    api_keys.revoke_key(current_user, key_id)

