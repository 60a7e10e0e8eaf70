"""URL converters for every route."""
from werkzeug.routing import IntegerConverter, UnicodeConverter

from soonish.field_limits import SLUG_MAX

# Ids are PostgreSQL integer columns: a larger number can name nothing.
MAX_DATABASE_ID = 2**31 - 1


class DatabaseIdConverter(IntegerConverter):
    """``<int:...>`` capped at the database's range: a too-large id is a 404, not a database error."""

    def __init__(self, url_map, *args, **kwargs):
        kwargs.setdefault("max", MAX_DATABASE_ID)
        super().__init__(url_map, *args, **kwargs)


def openapi_schema(converter: DatabaseIdConverter) -> dict:
    return {"type": "integer", "minimum": 0, "maximum": converter.max}


class SlugConverter(UnicodeConverter):
    """``<slug:...>``: an event's or a series' slug, the secret part of an unlisted one's link."""

    def __init__(self, url_map, *args, **kwargs):
        kwargs.setdefault("maxlength", SLUG_MAX)
        super().__init__(url_map, *args, **kwargs)


def slug_openapi_schema(converter: SlugConverter) -> dict:
    return {"type": "string", "minLength": 1, "maxLength": SLUG_MAX,
            "description": "The last part of the event's (or series') link, as in /e/{slug}."}
