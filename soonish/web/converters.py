"""URL converters for every route."""
from werkzeug.routing import IntegerConverter

# Ids are PostgreSQL integer columns: a larger number can name nothing.
MAX_DATABASE_ID = 2**31 - 1


class DatabaseIdConverter(IntegerConverter):
    """``<int:...>`` capped at the database's range: a too-large id is a 404, not a database error."""

    def __init__(self, url_map, *args, **kwargs):
        kwargs.setdefault("max", MAX_DATABASE_ID)
        super().__init__(url_map, *args, **kwargs)


def openapi_schema(converter: DatabaseIdConverter) -> dict:
    return {"type": "integer", "minimum": 0, "maximum": converter.max}
