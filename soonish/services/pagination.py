"""Keyset (cursor) pagination: a page is "the next `limit` rows after this (sort key, id)".

Unlike offsets, a cursor stays right while rows are inserted or removed before it (no row is
seen twice or skipped), and reading page 200 costs what page 1 costs: the database seeks to the
cursor on an index instead of counting past every earlier row.
"""
import base64
import binascii
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, or_

from soonish.models import db
from soonish.models.base import UTCDateTime
from soonish.services.errors import ValidationFailed
from soonish.i18n import _l

DEFAULT_LIMIT = 50
MAX_LIMIT = 200
# What _encode writes: URL-safe base64 without its padding, at most this long (a cursor holds a
# sort key and an id; the longest, a timestamp with its offset, is about 60 characters).
CURSOR_PATTERN = r"^[A-Za-z0-9_-]*$"
CURSOR_MAX_LENGTH = 500


@dataclass(frozen=True)
class Page:
    items: list
    next_cursor: str | None


def _encode(value: Any, row_id: int) -> str:
    if isinstance(value, datetime):
        value = {"t": value.isoformat()}
    raw = json.dumps([value, row_id], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode(cursor: str) -> tuple[Any, int]:
    try:
        value, row_id = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        if isinstance(value, dict):
            value = datetime.fromisoformat(value["t"])
        if not isinstance(row_id, int) or isinstance(row_id, bool) or not isinstance(value, (int, str, datetime)):
            raise ValueError(row_id)
        return value, row_id
    except (ValueError, TypeError, KeyError, binascii.Error, UnicodeDecodeError):
        raise ValidationFailed.field("cursor", _l("Not a cursor from this list; use the next_cursor of a previous page.")) from None


def keyset_page(query, sort_column, id_column, limit: int, cursor: str | None, descending: bool = False) -> Page:
    """One page of ``query`` ordered by (``sort_column``, ``id_column``); ``sort_column`` may be
    ``id_column`` itself. The statement fetches one row more than ``limit`` to know whether
    another page follows."""
    same_key = sort_column is id_column
    if cursor:
        value, row_id = _decode(cursor)
        by_time = isinstance(sort_column.type, UTCDateTime)
        if (by_time and (not isinstance(value, datetime) or value.tzinfo is None)) or (
                not by_time and not isinstance(value, int)):
            raise ValidationFailed.field("cursor", _l("Not a cursor from this list; use the next_cursor of a previous page."))
        if same_key:
            query = query.where(id_column < row_id if descending else id_column > row_id)
        elif descending:
            query = query.where(or_(sort_column < value, and_(sort_column == value, id_column < row_id)))
        else:
            query = query.where(or_(sort_column > value, and_(sort_column == value, id_column > row_id)))
    order = [id_column.desc() if descending else id_column.asc()]
    if not same_key:
        order.insert(0, sort_column.desc() if descending else sort_column.asc())
    rows = list(db.session.scalars(query.order_by(*order).limit(limit + 1)))
    items, more = rows[:limit], len(rows) > limit
    if not more:
        return Page(items, None)
    last = items[-1]
    key = getattr(last, sort_column.key)
    return Page(items, _encode(key, getattr(last, id_column.key)))
