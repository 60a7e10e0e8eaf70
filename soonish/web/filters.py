"""Jinja filters for showing times to people."""
from datetime import datetime
from zoneinfo import ZoneInfo

from markupsafe import Markup

from soonish.services.offsets import format_offset


def in_zone(value: datetime, zone: str) -> datetime:
    """``value`` as the wall-clock time in ``zone`` (for month and day labels)."""
    return value.astimezone(ZoneInfo(zone))


def localtime(value: datetime, zone: str, short: bool = False) -> str:
    """``value`` as a wall-clock time in ``zone``: "Tue 3 Mar 2026, 18:30", or "18:30" when short."""
    local = in_zone(value, zone)
    return local.strftime("%H:%M") if short else local.strftime("%a %-d %b %Y, %H:%M")


def zone_label(local: datetime) -> str:
    """The zone a wall-clock time is in, as people write it: "CET", "EDT", or "UTC+04" where
    the zone has no common abbreviation."""
    abbreviation = local.strftime("%Z")
    return f"UTC{abbreviation}" if abbreviation[:1] in "+-" else abbreviation


def zoned_time(value: datetime, zone: str) -> Markup:
    """``value`` in ``zone`` with the zone said, as a <time> element whose title names the zone
    in full: a time on a page seen from anywhere means nothing without its zone."""
    local = in_zone(value, zone)
    return Markup('<time datetime="{}" title="{}">{} {}</time>').format(
        value.isoformat(), zone, localtime(value, zone), zone_label(local)
    )


def register(app) -> None:
    app.add_template_filter(in_zone)
    app.add_template_filter(localtime)
    app.add_template_filter(zoned_time)
    app.add_template_filter(format_offset, "offset")
