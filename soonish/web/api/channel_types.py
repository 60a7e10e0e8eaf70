"""The channel catalogue over JSON: what a client's "add a channel" form needs."""
from marshmallow import Schema, fields

from soonish.services import channel_types
from soonish.web.api.base import ApiBlueprint

bp = ApiBlueprint("api_channel_types", __name__, url_prefix="/api/v1/channel-types", description="Channel catalogue")


class ChannelFieldOut(Schema):
    name = fields.String()
    label = fields.String()
    help = fields.String()
    example = fields.String()
    required = fields.Boolean()
    secret = fields.Boolean(metadata={"description": "A secret: show as a password field; never shown back"})
    pattern = fields.String(allow_none=True, metadata={"description": "Regular expression the value must match"})
    expected = fields.String(metadata={"description": "What a good value looks like, in words"})
    default = fields.String()
    kind = fields.String(metadata={"description": "text, server (an http(s) address) or email (an email address)"})
    max_length = fields.Integer()


class ChannelTypeOut(Schema):
    type = fields.String(metadata={"description": "The key to POST as `type` to /api/v1/integrations"})
    label = fields.String()
    summary = fields.String()
    help_url = fields.String(metadata={"description": "Where to get the values"})
    fields = fields.List(fields.Nested(ChannelFieldOut))


@bp.get("", response=ChannelTypeOut(many=True))
def list_channel_types():
    """The services a channel can be made for, each with its fields, labels and help. POST
    `{"type": …, "fields": {…}}` to /api/v1/integrations to add one. Type `email` (another address of
    yours) gets nothing until that address confirms the link we mail it."""
    return [channel_types.describe(channel_type) for channel_type in channel_types.TYPES]
