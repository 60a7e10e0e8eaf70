"""Reminder offsets: how long before an event's start a subscriber is reminded."""
import re

from soonish.i18n import _l
from soonish.services.errors import ValidationFailed

MIN_OFFSET = 5 * 60
MAX_OFFSET = 30 * 86400
MAX_OFFSETS = 5
SHOWN_TEXT_MAX = 20  # how much of a bad entry an error message repeats back
UNIT_SECONDS = {"w": 7 * 86400, "d": 86400, "h": 3600, "m": 60}
OFFSET_PATTERN = re.compile(r"^(\d{1,6})\s*([wdhm])$")


def parse_offset(text: str) -> int:
    """"1d" → 86400, "2h" → 7200, "15m" → 900; raises ValueError with a human message."""
    match = OFFSET_PATTERN.match(text.strip().lower())
    if not match:
        raise ValueError(f"“{_shown(text)}” is not an offset like 1d, 2h or 15m.")
    return int(match.group(1)) * UNIT_SECONDS[match.group(2)]


def format_offset(seconds: int) -> str:
    """The shortest human form: 86400 → "1d", 5400 → "90m"."""
    for unit in ("w", "d", "h", "m"):
        if seconds % UNIT_SECONDS[unit] == 0:
            return f"{seconds // UNIT_SECONDS[unit]}{unit}"
    return f"{seconds}s"


def validate_offsets(values, field: str = "reminder_offsets") -> list[int]:
    """Offsets in seconds (ints) or human strings ("1d 2h" or ["1d", "2h"]), checked and sorted,
    largest first. An empty list is allowed: no reminders."""
    if isinstance(values, str):
        values = values.replace(",", " ").split()
    if not isinstance(values, (list, tuple)):
        raise ValidationFailed.field(field, _l("Give a list of offsets such as 1d 2h 15m."))
    seconds: set[int] = set()
    for value in values:
        try:
            offset = value if isinstance(value, int) and not isinstance(value, bool) else parse_offset(str(value))
        except ValueError as exc:
            raise ValidationFailed.field(field, str(exc)) from exc
        if not MIN_OFFSET <= offset <= MAX_OFFSET:
            # Named as given: "0m" said back as "0w" would puzzle anyone.
            raise ValidationFailed.field(
                field, _l("“%(offset)s” is out of range: use 5 minutes (5m) to 30 days (30d) before the start.",
                         offset=_shown(str(value)))
            )
        seconds.add(offset)
    if len(seconds) > MAX_OFFSETS:
        raise ValidationFailed.field(field, _l("At most %(count)s reminders per event.", count=MAX_OFFSETS))
    return sorted(seconds, reverse=True)


def _shown(text: str) -> str:
    text = text.strip()
    return text if len(text) <= SHOWN_TEXT_MAX else text[:SHOWN_TEXT_MAX] + "…"
