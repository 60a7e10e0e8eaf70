"""Cursor pagination on the wire: `limit` and `cursor` in, `items` and `next_cursor` out, plus
an RFC 8288 `Link: <...>; rel="next"` header, on every list of the API."""
from flask import request, url_for
from marshmallow import Schema, fields, validate

from soonish.models import EventStatus, NotificationKind, Visibility
from soonish.services.pagination import CURSOR_MAX_LENGTH, CURSOR_PATTERN, DEFAULT_LIMIT, MAX_LIMIT, Page

NO_NUL_PATTERN = r"^[^\x00]*$"  # JSON Schema's (ECMA 262) spelling works in Python's re too
LINK_HEADER = {"Link": {
    "description": 'RFC 8288: `<url>; rel="next"` while more pages follow.', "schema": {"type": "string"},
}}


class PageArgs(Schema):
    limit = fields.Integer(load_default=DEFAULT_LIMIT, validate=validate.Range(min=1, max=MAX_LIMIT),
                           metadata={"description": f"Items per page, at most {MAX_LIMIT}."})
    cursor = fields.String(validate=[
        validate.Length(max=CURSOR_MAX_LENGTH),
        validate.Regexp(CURSOR_PATTERN, error="Not a cursor from this list; use the next_cursor of a previous page."),
    ], metadata={
        "description": "The `next_cursor` of the previous page; absent for the first page. Pages stay right while "
        "items are added: nothing is skipped or seen twice."})


class EventListArgs(PageArgs):
    starts_after = fields.AwareDateTime(metadata={
        "description": "Only events starting at or after this instant (with its offset; in the years 1-9999 once in UTC)."})
    starts_before = fields.AwareDateTime(metadata={
        "description": "Only events starting before this instant (with its offset; in the years 1-9999 once in UTC)."})
    # The pattern says what security.refuse_nul_characters enforces for every field, before this
    # schema runs: no NUL.
    q = fields.String(validate=validate.Length(max=200),
                      metadata={"description": "Words in the title or location.", "pattern": NO_NUL_PATTERN})


class MyEventListArgs(EventListArgs):
    status = fields.String(validate=validate.OneOf([s.value for s in EventStatus]))
    visibility = fields.String(validate=validate.OneOf([v.value for v in Visibility]))


class NotificationListArgs(PageArgs):
    kind = fields.String(validate=validate.OneOf([k.value for k in NotificationKind]))


def page_schema(item_schema: type[Schema], name: str) -> type[Schema]:
    """The envelope of one page of ``item_schema``."""
    return Schema.from_dict({
        "items": fields.List(fields.Nested(item_schema)),
        "next_cursor": fields.String(allow_none=True, metadata={"description": "null on the last page"}),
    }, name=name)


def paged(page: Page, **fields):
    """The view's answer: the page (with any ``fields`` the list adds) and, when another
    follows, its Link header."""
    body = {**fields, "items": page.items, "next_cursor": page.next_cursor}
    if page.next_cursor is None:
        return body
    args = {**request.args.to_dict(), "cursor": page.next_cursor}
    link = url_for(request.endpoint, **(request.view_args or {}), **args, _external=True)
    return body, 200, {"Link": f'<{link}>; rel="next"'}
