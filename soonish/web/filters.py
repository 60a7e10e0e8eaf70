"""Jinja filters for showing times to people."""
from datetime import datetime
from zoneinfo import ZoneInfo

from ..services.offsets import format_offset


def in_zone(value: datetime, zone: str) -> datetime:
    """``value`` as the wall-clock time in ``zone`` (for month and day labels)."""
    return value.astimezone(ZoneInfo(zone))


def localtime(value: datetime, zone: str, short: bool = False) -> str:
    """``value`` as a wall-clock time in ``zone``: "Tue 3 Mar 2026, 18:30", or "18:30" when short."""
    local = in_zone(value, zone)
    return local.strftime("%H:%M") if short else local.strftime("%a %-d %b %Y, %H:%M")


def register(app) -> None:
    app.add_template_filter(in_zone)
    app.add_template_filter(localtime)
    app.add_template_filter(format_offset, "offset")
