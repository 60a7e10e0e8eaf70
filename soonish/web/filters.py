"""Jinja filters and globals for showing times and languages to people: each time in its
event's zone with the zone said, written the reader's way (Babel, soonish/i18n/__init__.py)."""
from datetime import datetime
from zoneinfo import ZoneInfo

from markupsafe import Markup

from soonish import i18n
from soonish.services.offsets import format_offset


def in_zone(value: datetime, zone: str) -> datetime:
    """``value`` as the wall-clock time in ``zone`` (for month and day labels)."""
    return value.astimezone(ZoneInfo(zone))


def localtime(value: datetime, zone: str, short: bool = False) -> str:
    """``value`` as a wall-clock time in ``zone`` in the reader's language: "Mon, Dec 14, 2026,
    7:00 PM CET" ("Mo., 14. Dez. 2026, 19:00 MEZ"), or the time alone when short."""
    locale = i18n.current_locale()
    if short:
        return i18n.format_time(value, locale, zone)
    return i18n.format_datetime(value, locale, zone)


def day_label(value: datetime, zone: str, skeleton: str) -> str:
    """A part of ``value``'s date in ``zone`` the reader's way, by CLDR skeleton ("MMM": "Dec",
    "d": "14", "EEE": "Mon")."""
    return i18n.format_date(value, i18n.current_locale(), zone, skeleton)


def zoned_time(value: datetime, zone: str) -> Markup:
    """``value`` in ``zone`` with the zone said, as a <time> element whose title names the zone
    in full: a time on a page seen from anywhere means nothing without its zone."""
    return Markup('<time datetime="{}" title="{}">{}</time>').format(value.isoformat(), zone, localtime(value, zone))


def organizer_lang(event) -> Markup:
    """` lang="…"` for an element holding the organizer's own text when the event says its
    language, so screen readers read it in that language whatever the page's is."""
    return Markup(' lang="{}"').format(event.language) if event.language else Markup("")


def register(app) -> None:
    app.add_template_filter(in_zone)
    app.add_template_filter(localtime)
    app.add_template_filter(zoned_time)
    app.add_template_filter(day_label)
    app.add_template_filter(format_offset, "offset")
    app.add_template_filter(i18n.format_number, "number")
    app.add_template_filter(i18n.format_percent, "percent")
    app.add_template_global(organizer_lang)
    app.add_template_global(i18n.current_locale)
    app.add_template_global(i18n.is_rtl)
