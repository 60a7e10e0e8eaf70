"""Request and response shapes of the JSON API (marshmallow, documented in the OpenAPI)."""
from flask import url_for
from marshmallow import Schema, fields, validate

from ...models import Visibility
from ...services.events import zone_names

VISIBILITIES = [v.value for v in Visibility]
# Listed in the OpenAPI document, so clients (and the fuzzer) know the valid names.
TIMEZONES = validate.OneOf(sorted(zone_names()), error="Unknown time zone; use an IANA name like Europe/Paris.")
TITLE_RULES = [validate.Length(min=1, max=200), validate.Regexp(r"^\s*\S", error="A title is required.")]


class RegisterIn(Schema):
    email = fields.Email(required=True)
    password = fields.String(required=True, validate=validate.Length(min=8, max=200))
    display_name = fields.String(load_default="", validate=validate.Length(max=120))


class TokenIn(Schema):
    email = fields.String(required=True)
    password = fields.String(required=True)


class TokenOut(Schema):
    access_token = fields.String()
    token_type = fields.String()
    expires_in = fields.Integer()


class UserOut(Schema):
    id = fields.Integer()
    email = fields.String(allow_none=True)
    display_name = fields.String()


class EventPatch(Schema):
    """Any subset of an event's fields; absent ones stay as they are."""

    title = fields.String(validate=TITLE_RULES)
    description = fields.String()
    location = fields.String(validate=validate.Length(max=300))
    starts_at = fields.DateTime(metadata={"description": "ISO 8601; without an offset it is read in `timezone`."})
    ends_at = fields.DateTime(allow_none=True)
    timezone = fields.String(validate=TIMEZONES, metadata={"description": "IANA zone, e.g. Europe/Paris"})
    visibility = fields.String(validate=validate.OneOf(VISIBILITIES))


class EventIn(EventPatch):
    title = fields.String(required=True, validate=TITLE_RULES)
    starts_at = fields.DateTime(required=True, metadata={"description": "ISO 8601; without an offset it is read in `timezone`."})


class EventOut(Schema):
    id = fields.Integer()
    slug = fields.String()
    title = fields.String()
    description = fields.String()
    location = fields.String()
    starts_at = fields.DateTime()
    ends_at = fields.DateTime(allow_none=True)
    timezone = fields.String()
    visibility = fields.Function(lambda e: e.visibility.value)
    status = fields.Function(lambda e: e.status.value)
    version = fields.Integer()
    organizer_id = fields.Integer()
    url = fields.Function(lambda e: url_for("events.show", slug=e.slug, _external=True))
