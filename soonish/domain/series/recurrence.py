"""Recurrence rules of a series: the RFC 5545 RRULE subset Soonish accepts, and its instances.

Plain Python (no Flask, no database). Parsing is icalendar's (vRecur), the recurrence math is
dateutil's rrule. Instances are generated in the series' local wall-clock time and only then
placed in its zone, so a weekly 19:00 stays 19:00 across daylight-saving changes.
"""
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

from dateutil import rrule as dateutil_rrule
from icalendar import vRecur

from soonish.i18n import _l
from soonish.field_limits import SERIES_COUNT_MAX, SERIES_INTERVAL_MAX, SERIES_RULE_MAX, SERIES_SPAN_MAX_DAYS

FREQUENCIES = {"WEEKLY": dateutil_rrule.WEEKLY, "MONTHLY": dateutil_rrule.MONTHLY}
# The rule parts a series may use; anything else (BYHOUR, DAILY, ...) is refused by name.
ALLOWED_PARTS = ("FREQ", "INTERVAL", "BYDAY", "BYMONTHDAY", "BYSETPOS", "UNTIL", "COUNT")
WEEKDAYS = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")
WEEKDAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
ORDINALS = {1: "1st", 2: "2nd", 3: "3rd", 4: "4th", 5: "5th", -1: "last"}


class RuleError(ValueError):
    """A rule Soonish can't use; the message says why, for a person."""


@dataclass(frozen=True)
class Rule:
    freq: str  # WEEKLY or MONTHLY
    interval: int = 1
    # Weekday codes ("TU"); for MONTHLY one code with an ordinal (``setpos``): the 2nd Tuesday.
    weekdays: tuple[str, ...] = ()
    setpos: int | None = None
    monthday: int | None = None
    until: date | None = None  # the last local date an occurrence may fall on
    count: int | None = None

    def text(self) -> str:
        """The canonical RRULE text (what is stored; UNTIL as a local date)."""
        parts = [f"FREQ={self.freq}"]
        if self.interval != 1:
            parts.append(f"INTERVAL={self.interval}")
        if self.weekdays:
            parts.append("BYDAY=" + ",".join(self.weekdays))
        if self.setpos is not None:
            parts.append(f"BYSETPOS={self.setpos}")
        if self.monthday is not None:
            parts.append(f"BYMONTHDAY={self.monthday}")
        if self.until is not None:
            parts.append(f"UNTIL={self.until:%Y%m%d}")
        if self.count is not None:
            parts.append(f"COUNT={self.count}")
        return ";".join(parts)

    def ical(self, zone: ZoneInfo) -> vRecur:
        """The rule for a VEVENT whose DTSTART carries ``zone``: there UNTIL must be in UTC
        (RFC 5545 3.3.10), the end of the last local day."""
        recur = vRecur.from_ical(self.text())
        if self.until is not None:
            last_moment = datetime.combine(self.until, time(23, 59, 59), zone).astimezone(timezone.utc)
            recur["UNTIL"] = [last_moment]
        return recur

    def _rrule(self, first_local: datetime) -> dateutil_rrule.rrule:
        weekday = [getattr(dateutil_rrule, code) for code in self.weekdays] or None
        return dateutil_rrule.rrule(
            FREQUENCIES[self.freq], dtstart=first_local, interval=self.interval, byweekday=weekday,
            bysetpos=self.setpos, bymonthday=self.monthday, count=self.count,
            until=datetime.combine(self.until, time.max) if self.until else None,
        )

    def local_starts(self, first_local: datetime):
        """The instances' naive local wall-clock starts, from ``first_local`` (naive) on."""
        return iter(self._rrule(first_local))

    def starts(self, first_local: datetime, zone: ZoneInfo, after: datetime | None = None):
        """The instances' starts in UTC, in order, from ``after`` (UTC, inclusive) on."""
        for local in self.local_starts(first_local):
            instant = local.replace(tzinfo=zone).astimezone(timezone.utc)
            if after is None or instant >= after:
                yield instant

    def describe(self, at: time) -> str:
        """"every Tuesday at 19:00", "every 2 weeks on Monday and Thursday at 19:00", ..."""
        clock = f"at {at:%H:%M}"
        if self.freq == "WEEKLY":
            days = _joined([WEEKDAY_NAMES[WEEKDAYS.index(code)] for code in self.weekdays])
            if self.interval == 1:
                return f"every {days} {clock}" if days else f"every week {clock}"
            return f"every {self.interval} weeks" + (f" on {days}" if days else "") + f" {clock}"
        every = "every month" if self.interval == 1 else f"every {self.interval} months"
        if self.monthday is not None:
            day = "the last day" if self.monthday == -1 else f"day {self.monthday}"
            return f"{every} on {day} {clock}"
        if self.weekdays:
            return f"{every} on the {ORDINALS[self.setpos]} {WEEKDAY_NAMES[WEEKDAYS.index(self.weekdays[0])]} {clock}"
        return f"{every} {clock}"


def _joined(words: list[str]) -> str:
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + (f" and {words[-1]}" if words else "")


def parse(text: str, zone: ZoneInfo) -> Rule:
    """The rule ``text`` names ("FREQ=WEEKLY;BYDAY=TU;COUNT=10"), or a RuleError saying what
    is wrong. A leading "RRULE:" is accepted; an UNTIL with a time or in UTC is read as its
    local date in ``zone``."""
    text = (text or "").strip()
    if text.upper().startswith("RRULE:"):
        text = text[len("RRULE:"):]
    if not text:
        raise RuleError(_l("Give a rule like FREQ=WEEKLY;BYDAY=TU;COUNT=10."))
    if len(text) > SERIES_RULE_MAX:
        raise RuleError(_l("Keep the rule under %(count)s characters.", count=SERIES_RULE_MAX))
    try:
        parts = vRecur.from_ical(text)
    except (ValueError, TypeError) as exc:
        raise RuleError(_l("Not a rule Soonish can read: %(reason)s", reason=exc)) from exc
    unsupported = sorted(set(parts) - set(ALLOWED_PARTS))
    if unsupported:
        raise RuleError(_l("Unsupported rule part %(parts)s; use %(allowed)s.", parts=", ".join(unsupported),
                           allowed=", ".join(ALLOWED_PARTS)))
    freq = _single(parts, "FREQ")
    if freq not in FREQUENCIES:
        raise RuleError(_l("FREQ must be WEEKLY or MONTHLY."))
    interval = _number(parts, "INTERVAL", 1, SERIES_INTERVAL_MAX, default=1)
    count = _number(parts, "COUNT", 1, SERIES_COUNT_MAX)
    until = _single(parts, "UNTIL")
    if until is not None:
        if isinstance(until, datetime):
            until = (until.astimezone(zone) if until.tzinfo else until).date()
    if (until is None) == (count is None):
        raise RuleError(_l("A series must end: give either UNTIL (a date) or COUNT (a number of occurrences)."))
    monthday = _number(parts, "BYMONTHDAY", -1, 31)
    if monthday == 0:
        raise RuleError(_l("BYMONTHDAY must be 1 to 31, or -1 for the last day."))
    setpos = _number(parts, "BYSETPOS", -1, 5)
    weekdays, ordinal = _weekdays(parts.get("BYDAY", []))
    if freq == "WEEKLY":
        if ordinal is not None or setpos is not None or monthday is not None:
            raise RuleError(_l("A weekly rule takes plain weekdays (BYDAY=MO,TH), no positions or days of the month."))
    else:
        if ordinal is not None and setpos is not None:
            raise RuleError(_l("Give the position once: BYDAY=2TU or BYDAY=TU;BYSETPOS=2."))
        setpos = ordinal if ordinal is not None else setpos
        if weekdays and (len(weekdays) != 1 or setpos in (None, 0)):
            raise RuleError(_l("A monthly rule by weekday names one weekday and its position, like BYDAY=2TU (the 2nd Tuesday)."))
        if weekdays and monthday is not None:
            raise RuleError(_l("A monthly rule is by weekday (BYDAY) or by day of the month (BYMONTHDAY), not both."))
        if setpos is not None and not weekdays:
            raise RuleError(_l("BYSETPOS needs a weekday: BYDAY=TU;BYSETPOS=2."))
    return Rule(freq, interval, weekdays, setpos, monthday, until, count)


def _single(parts: vRecur, name: str):
    values = parts.get(name, [])
    if len(values) > 1:
        raise RuleError(_l("%(part)s takes one value.", part=name))
    return values[0] if values else None


def _number(parts: vRecur, name: str, low: int, high: int, default: int | None = None) -> int | None:
    value = _single(parts, name)
    if value is None:
        return default
    if not isinstance(value, int) or not low <= value <= high:
        raise RuleError(_l("%(part)s must be a whole number from %(low)s to %(high)s.", part=name, low=low, high=high))
    return value


def _weekdays(codes: list[str]) -> tuple[tuple[str, ...], int | None]:
    """The weekday codes and the one ordinal in front of them (2TU → TU, 2), if any."""
    weekdays, ordinals = [], set()
    for code in codes:
        day, position = code[-2:].upper(), code[:-2]
        if day not in WEEKDAYS:
            raise RuleError(_l("BYDAY: “%(code)s” is not a weekday like MO or 2TU.", code=code))
        if position:
            try:
                ordinals.add(int(position))
            except ValueError as exc:
                raise RuleError(_l("BYDAY: “%(code)s” is not a weekday like MO or 2TU.", code=code)) from exc
        if day not in weekdays:
            weekdays.append(day)
    if len(ordinals) > 1 or (ordinals and len(codes) > 1):
        raise RuleError(_l("BYDAY: one weekday with a position, like 2TU."))
    ordinal = ordinals.pop() if ordinals else None
    if ordinal is not None and ordinal not in ORDINALS:
        raise RuleError(_l("BYDAY: the position must be 1 to 5, or -1 for the last."))
    # Weekdays in week order, so the stored text is the same however they were given.
    return tuple(sorted(weekdays, key=WEEKDAYS.index)), ordinal


def first_instance(rule: Rule, wanted_local: datetime) -> datetime:
    """The first instance at or after ``wanted_local`` (naive local): a series starts on one of
    its own instances, so dateutil and calendar apps (which count DTSTART as an instance) agree.
    Raises RuleError when the rule has none, or ends too far ahead."""
    first = next(rule.local_starts(wanted_local), None)
    if first is None:
        raise RuleError(_l("This rule has no occurrence after the start; check UNTIL."))
    last_allowed = first + timedelta(days=SERIES_SPAN_MAX_DAYS)
    if rule.until is not None and rule.until > last_allowed.date():
        raise RuleError(_l("A series may run for up to %(days)s days; set UNTIL to %(until)s or sooner.",
                           days=SERIES_SPAN_MAX_DAYS, until=last_allowed.strftime("%Y%m%d")))
    if rule.count is not None:
        last = list(rule.local_starts(first))[-1]
        if last > last_allowed:
            raise RuleError(_l("A series may run for up to %(days)s days; lower COUNT.", days=SERIES_SPAN_MAX_DAYS))
    return first


def weekly(weekdays: list[str], interval: int = 1, until: date | None = None, count: int | None = None) -> str:
    """The rule text of "every N weeks on these weekdays" (what the form's choices make)."""
    return Rule("WEEKLY", interval, tuple(weekdays), until=until, count=count).text()


def monthly(interval: int = 1, monthday: int | None = None, weekday: str | None = None, position: int | None = None,
            until: date | None = None, count: int | None = None) -> str:
    """The rule text of "monthly on day N" or "monthly on the Nth weekday"."""
    return Rule("MONTHLY", interval, (weekday,) if weekday else (), position, monthday, until, count).text()
