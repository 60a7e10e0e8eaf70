"""Every reader's language: which locale a page, mail or chat message is written in, its
translations, and dates, lists and durations formatted the reader's way (issue 29).

Strings are marked at the source with ``_`` (``gettext``), ``_l`` (``lazy_gettext``, for what is
built at import: form labels, validator messages), ``ngettext`` and ``pgettext``, and translated
whole with named placeholders (``_("Starts %(when)s", when=...)``): never concatenate translated
fragments, a sentence's order is the language's. Catalogs live in soonish/translations (``make
messages`` extracts, ``make translations`` compiles; soonish/i18n/catalogs.py).

In a request Flask-Babel picks the locale (``request_locale``: the signed-in person's setting,
else ``Accept-Language``, else English). Elsewhere (Temporal activities, bots) a message is
rendered for a reader inside ``with render_in(locale):``; with an app context (every activity
runs in one) Flask-Babel's own functions and the Jinja templates follow it, without one the
functions here translate from the compiled catalog directly.

Infrastructure: imports nothing of the domain, services, web, bots or temporal."""
import re
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import date, datetime, timedelta
from functools import lru_cache
from pathlib import Path
from zoneinfo import ZoneInfo

import flask_babel
from babel import Locale, UnknownLocaleError, dates, lists, numbers
from babel.core import get_global
from babel.support import NullTranslations, Translations
from flask_babel.speaklater import LazyString
from flask import current_app, has_app_context, has_request_context, request
from markupsafe import escape
from flask_login import current_user
from werkzeug.datastructures import LanguageAccept
from werkzeug.http import parse_accept_header

TRANSLATIONS_DIR = Path(__file__).resolve().parent.parent / "translations"
DOMAIN = "messages"
DEFAULT_LOCALE = "en"
# The languages Soonish ships, each complete (tests/test_translations.py): what a person may
# choose and what Accept-Language is matched against.
SUPPORTED_LOCALES = ("en", "es", "fr", "de", "pt_BR", "ar")
RTL_LOCALES = frozenset({"ar"})
# Each language's own name, for the language selector (a reader who can't read the page's
# language still finds theirs).
LOCALE_NAMES = {"en": "English", "es": "Español", "fr": "Français", "de": "Deutsch",
                "pt_BR": "Português (Brasil)", "ar": "العربية"}
# Accented pseudo-English (soonish/i18n/catalogs.py writes it from the template): pages rendered in
# it show any English left unmarked. Babel's CLDR data has no en_XA, so it is filed under
# "World English", which no shipped catalog uses; offered only where PSEUDO_LOCALE is on (tests).
PSEUDO_LOCALE = "en_001"

# The locale ``render_in`` chose for this thread or task, over the request's.
_rendering_locale: ContextVar[str | None] = ContextVar("rendering_locale", default=None)


def available_locales() -> tuple[str, ...]:
    """The locales a reader may get here: the shipped ones, and the pseudo-locale where the app
    turns it on."""
    pseudo = has_app_context() and current_app.config.get("PSEUDO_LOCALE")
    return SUPPORTED_LOCALES + (PSEUDO_LOCALE,) if pseudo else SUPPORTED_LOCALES


# A region after a shipped language that has no regional catalog ("GB" in en-GB, "419" in
# es-419): kept, so the reader gets that region's formats (CLDR's en_GB: "Mon, 16 Dec 2030,
# 19:00", where en writes "Mon, Dec 16, 2030, 7:00 PM") with the language's own words (gettext
# finds "en" for "en_GB").
_REGION = re.compile(r"[A-Za-z]{2}|[0-9]{3}")


def supported(locale: str | None) -> str | None:
    """``locale`` as one of ours ("pt-br" → "pt_BR"; "en-GB" → "en_GB", English read the British
    way), or None when it isn't one."""
    if not locale:
        return None
    wanted = locale.replace("-", "_")
    locales = available_locales()
    exact = next((known for known in locales if known.lower() == wanted.lower()), None)
    if exact:
        return exact
    language, _, region = wanted.partition("_")
    language, region = language.lower(), region.upper()
    if language not in locales or not _REGION.fullmatch(region):
        return None
    # The language's own region (US for en, FR for fr) is the language: one rendering for all
    # of its readers, not one per way of asking for it.
    if get_global("likely_subtags").get(language, "").endswith(f"_{region}"):
        return language
    try:
        regional = str(Locale.parse(f"{language}_{region}"))
    except (UnknownLocaleError, ValueError):
        return None
    # The pseudo-locale is "World English" (en_001): never a region of English where it is off.
    return regional if regional != PSEUDO_LOCALE else None


def shipped(locale: str | None) -> str:
    """The catalog ``locale`` reads ("en" for "en_GB"): what a language selector shows chosen."""
    chosen = supported(locale) or DEFAULT_LOCALE
    return chosen if chosen in available_locales() else chosen.split("_")[0]


def best_locale(accept_language: str | None, fallback: str = DEFAULT_LOCALE) -> str:
    """The locale that best answers an ``Accept-Language`` header (``fr-FR,fr;q=0.9``), or
    ``fallback``: a shipped one, or a shipped language with the region asked for ("en-GB"). A
    language without its region finds a regional catalog of it ("pt" → "pt_BR"), which Babel's
    negotiation alone would not."""
    preferred = [value for value, _quality in parse_accept_header(accept_language or "", LanguageAccept)
                 if value != "*"]
    for wanted in preferred:
        if chosen := supported(wanted):
            return chosen
    locales = available_locales()
    for wanted in preferred:
        language = wanted.replace("-", "_").split("_")[0].lower()
        regional = next((known for known in locales if known.split("_")[0].lower() == language), None)
        if regional:
            return regional
    return fallback


def request_locale() -> str:
    """Flask-Babel's locale selector: the locale ``render_in`` set, else the signed-in person's
    setting, else the browser's ``Accept-Language``, else English."""
    forced = _rendering_locale.get()
    if forced:
        return forced
    if not has_request_context():
        return DEFAULT_LOCALE
    chosen = supported(getattr(current_user, "locale", None)) if current_user else None
    return chosen or best_locale(request.headers.get("Accept-Language"))


def is_rtl(locale: str | Locale | None) -> bool:
    return str(locale).split("_")[0] in RTL_LOCALES if locale else False


def current_locale() -> str:
    """The locale being written in now: ``render_in``'s, the request's, or English."""
    forced = _rendering_locale.get()
    if forced:
        return forced
    if has_app_context():
        return str(flask_babel.get_locale() or DEFAULT_LOCALE)
    return DEFAULT_LOCALE


@lru_cache(maxsize=None)
def translations_for(locale: str) -> Translations | NullTranslations:
    """The compiled catalog of ``locale`` (English's msgids as they are when it has none)."""
    return Translations.load(str(TRANSLATIONS_DIR), [locale], DOMAIN)


@contextmanager
def render_in(locale: str | None) -> Iterator[str]:
    """Write in ``locale`` (one of ours, else English) for the length of the block, without a
    request: in a worker's app context through Flask-Babel (its gettext, the templates' and its
    format functions follow), outside one through ``translations_for``. Per thread and task:
    concurrent activities each keep their own."""
    chosen = supported(locale) or DEFAULT_LOCALE
    token = _rendering_locale.set(chosen)
    try:
        if has_app_context():
            with flask_babel.force_locale(chosen):
                yield chosen
        else:
            yield chosen
    finally:
        _rendering_locale.reset(token)


def _translations() -> Translations | NullTranslations:
    forced = _rendering_locale.get()
    if forced:
        # The catalog Flask-Babel would load under render_in's force_locale, without its lookup
        # of the context's locale on every string (a mail template asks about 30 times).
        return translations_for(forced)
    if has_app_context():
        return flask_babel.get_translations()
    return translations_for(current_locale())


def gettext(string: str, **variables) -> str:
    translated = _translations().ugettext(string)
    return translated % variables if variables else translated


def ngettext(singular: str, plural: str, num: int, **variables) -> str:
    variables.setdefault("num", num)
    return _translations().ungettext(singular, plural, num) % variables


def pgettext(context: str, string: str, **variables) -> str:
    translated = _translations().upgettext(context, string)
    return translated % variables if variables else translated


_ = gettext


class LazyText(LazyString):
    """Flask-Babel's lazy string, escaped when a template shows it: its placeholders may hold what
    someone typed (a refusal naming their input), and Flask-Babel's own tells Jinja it is
    already HTML. Flask's session keeps it as that escaped HTML (and gives it back as Markup);
    JSON gets its plain text (``json_text``)."""

    def __html__(self) -> str:
        return str(escape(str(self)))


def json_text(value):
    """For a JSON provider's ``default``: a lazy string as its plain text, not its HTML."""
    return str(value) if isinstance(value, LazyString) else None


# Lazy strings resolve when shown, in that moment's locale: for what exists before any request
# (form labels, an error raised now and rendered by its door), and, through our own gettext,
# in ``render_in``'s locale with or without an app context.
def lazy_gettext(string: str, **variables) -> LazyText:
    return LazyText(gettext, string, **variables)


def lazy_ngettext(singular: str, plural: str, num: int, **variables) -> LazyText:
    return LazyText(ngettext, singular, plural, num, **variables)


_l = lazy_gettext


def _zone(zone: str | None) -> ZoneInfo:
    return ZoneInfo(zone or "UTC")


def format_datetime(value: datetime, locale: str, zone: str | None, format: str = "event") -> str:
    """``value`` as a wall-clock time in ``zone`` the way ``locale`` writes it. "event" (what
    pages, mails and chat show): the weekday, date, time and zone, "Mon, Dec 14, 2026, 7:00 PM
    CET", "Mo., 14. Dez. 2026, 19:00 MEZ"; else a Babel format ("short", "medium", a pattern)."""
    tzinfo = _zone(zone)
    if format != "event":
        return dates.format_datetime(value, format, tzinfo=tzinfo, locale=locale)
    parsed = Locale.parse(locale)
    local = value.astimezone(tzinfo)
    day = dates.format_skeleton("yMMMEd", local, locale=parsed)
    time = dates.format_time(local, "short", locale=parsed)
    zone_name = dates.format_datetime(value, "z", tzinfo=tzinfo, locale=parsed)
    if not any(character.isalpha() for character in zone_name):
        # CLDR names few zones for most languages ("+0100"): the zone's own abbreviation ("CET",
        # "EST") as the pages said it before, else its offset the language's way ("GMT+4").
        abbreviation = local.strftime("%Z")
        zone_name = abbreviation if abbreviation.isalpha() else dates.get_timezone_gmt(
            local, "long", locale=parsed)
    return parsed.datetime_formats["medium"].format(f"{time} {zone_name}", day)


def format_time(value: datetime, locale: str, zone: str | None) -> str:
    """The time of day alone ("7:00 PM", "19:00")."""
    return dates.format_time(value, "short", tzinfo=_zone(zone), locale=locale)


def format_date(value: date | datetime, locale: str, zone: str | None = None, format: str = "medium") -> str:
    """A date the way ``locale`` writes it; a datetime's date in ``zone``. Skeletons work too
    ("yMMMEd": "Mon, Dec 14, 2026"; "MMMMy": "December 2026")."""
    if isinstance(value, datetime):
        value = value.astimezone(_zone(zone))
    if format not in ("short", "medium", "long", "full") and format.isalpha():
        return dates.format_skeleton(format, value, locale=locale)
    return dates.format_date(value, format, locale=locale)


def format_timedelta(delta: timedelta, locale: str, add_direction: bool = False, granularity: str = "minute") -> str:
    """A length of time in words ("1 hour", "in 1 hour" with ``add_direction``: "dans 1 heure")."""
    return dates.format_timedelta(delta, granularity=granularity, threshold=1, add_direction=add_direction,
                                  locale=locale)


def format_number(value: int | float, locale: str | None = None) -> str:
    """A number grouped the way ``locale`` (else the one being written in now) writes it: "10,000",
    "10.000", "10 000"."""
    return numbers.format_decimal(value, locale=locale or current_locale())


def format_percent(value: float, locale: str | None = None) -> str:
    """A rate as a percentage with up to two decimals, the way ``locale`` writes it: "0.25%",
    "0,25 %"."""
    return numbers.format_percent(value, "#,##0.##%", locale=locale or current_locale())


def format_list(items: Iterable[str], locale: str, style: str = "standard") -> str:
    """Words joined as ``locale`` joins them ("A, B, and C", "A, B et C"; style "or": "A or B")."""
    return lists.format_list(list(items), style=style, locale=locale)


def init_app(app) -> None:
    """Flask-Babel on ``app``: catalogs from soonish/translations, the locale ``request_locale``
    chooses. No timezone selector: pages show each time in its event's zone, said beside it
    (web/filters.py), as before; Babel's own default zone stays UTC."""
    flask_babel.Babel(app, default_locale=DEFAULT_LOCALE, default_domain=DOMAIN,
                      default_translation_directories=str(TRANSLATIONS_DIR), locale_selector=request_locale)
    # {% trans %} blocks fold their whitespace, as babel.cfg extracts them.
    app.jinja_env.policies["ext.i18n.trimmed"] = True
    # The templates translate as Flask-Babel's own callables do, but a worker writing mails in
    # render_in's locale skips Flask-Babel's lookup of the locale per string: that lookup was 40%
    # of making a confirm mail (bench/follow.py, issue 24) and of each broadcast mail.
    app.jinja_env.install_gettext_callables(
        gettext=lambda string: _translations().ugettext(string),
        ngettext=lambda singular, plural, num: _translations().ungettext(singular, plural, num),
        pgettext=lambda context, string: _translations().upgettext(context, string),
        npgettext=lambda context, singular, plural, num: _translations().unpgettext(context, singular, plural, num),
        newstyle=True,
    )
