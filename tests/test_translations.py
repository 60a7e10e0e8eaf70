"""Every reader's language (issue 29): the catalogs hold every marked string, the page's language
is the person's setting, else their browser's, and right-to-left languages read right to left;
rendered in the accented pseudo-English, no page shows English nobody marked."""
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po

from soonish import i18n
from soonish.i18n import catalogs
from soonish.models import User, db

from .api_helpers import create_event

# The suite spreads tests over its processes one by one; the marked strings are extracted once
# for every test here, so they run in one process.
pytestmark = pytest.mark.xdist_group("translations")

ROOT = Path(__file__).resolve().parent.parent
# As `make messages` extracts (Makefile): the lazy forms' keywords besides gettext's own, and
# discord.py's locale_str (the Discord commands' texts, translated when they are synced).
KEYWORDS = {**DEFAULT_KEYWORDS, "_l": None, "lazy_ngettext": (1, 2), "locale_str": None}
SHIPPED = [locale for locale in i18n.SUPPORTED_LOCALES if locale != "en"]


def extracted_msgids() -> set[str | tuple]:
    """Every string marked in the code and templates, extracted as babel.cfg says."""
    with (ROOT / "babel.cfg").open() as config:
        method_map, options_map = parse_mapping_cfg(config)
    return {message_id for _file, _line, message_id, _comments, context in
            extract_from_dir(str(ROOT), method_map, options_map, keywords=KEYWORDS)}


@pytest.fixture(scope="module")
def msgids() -> set:
    found = extracted_msgids()
    assert len(found) > 400  # the pages alone mark this many
    return found


def catalog_of(locale: str):
    with catalogs.po_path(locale).open("rb") as source:
        return read_po(source)


def test_the_template_holds_every_marked_string(msgids):
    template = {message.id for message in read_po(catalogs.TEMPLATE.open("rb")) if message.id}
    assert msgids - template == set(), "run `make messages`"


@pytest.mark.parametrize("locale", SHIPPED)
def test_a_shipped_language_translates_every_string(locale, msgids):
    catalog = catalog_of(locale)
    entries = {message.id: message for message in catalog if message.id}
    translated = [message for message in entries.values() if message.string and any(message.string)
                  if not isinstance(message.string, str) or message.string]
    if not translated:
        pytest.xfail("translations pending")
    missing = sorted(str(message_id) for message_id in msgids
                     if message_id not in entries or not all(entries[message_id].string
                                                             if isinstance(entries[message_id].string, tuple)
                                                             else [entries[message_id].string]))
    fuzzy = sorted(str(message.id) for message in entries.values() if message.fuzzy)
    assert not catalog.fuzzy, f"{locale}: the catalog's header is still marked fuzzy"
    assert missing == [] and fuzzy == [], f"{locale}: {len(missing)} missing, {len(fuzzy)} fuzzy"


def test_accent_free_pseudo_english_keeps_placeholders_and_markup():
    assert catalogs.pseudo("Hello %(name)s, see <a href=\"/x\">{zone}</a>") == \
        "Ĥéĺĺó %(name)s, šéé <a href=\"/x\">{zone}</a>"


def test_the_browser_language_chooses_and_the_persons_setting_overrides_it(app, client, make_user, login):
    assert i18n.best_locale("fr-FR,fr;q=0.9,en;q=0.5") == "fr"
    assert i18n.best_locale("pt") == "pt_BR" and i18n.best_locale("zh-CN") == "en"
    page = client.get("/", headers={"Accept-Language": "de-DE,de;q=0.9"}).get_data(as_text=True)
    assert '<html lang="de" dir="ltr">' in page

    person = make_user("lang@example.com")
    with app.app_context():
        db.session.get(User, person.id).locale = "pt_BR"
        db.session.commit()
    login(person)
    page = client.get("/", headers={"Accept-Language": "de-DE"}).get_data(as_text=True)
    assert '<html lang="pt-BR" dir="ltr">' in page


def test_british_english_reads_english_words_with_british_dates(client, make_user, bearer):
    assert i18n.best_locale("en-GB,en;q=0.9") == "en_GB"
    # A language's own region is the language: one rendering for its readers, not one per header.
    assert i18n.best_locale("en-US") == "en" and i18n.best_locale("fr-FR") == "fr"
    event = create_event(client, bearer(make_user("gb@example.com")), title="Quiz night",
                         starts_at="2030-12-16T19:30:00+00:00", timezone="Europe/London")
    british = client.get(f"/e/{event['slug']}", headers={"Accept-Language": "en-GB,en;q=0.9"}).get_data(as_text=True)
    american = client.get(f"/e/{event['slug']}", headers={"Accept-Language": "en-US"}).get_data(as_text=True)
    assert '<html lang="en-GB" dir="ltr">' in british
    assert "Mon, 16 Dec 2030, 19:30 GMT" in british and "Add to calendar" in british
    assert "Mon, Dec 16, 2030, 7:30 PM GMT" in american


def test_the_language_setting_is_kept_and_refused_when_unknown(client, make_user, bearer):
    headers = bearer(make_user("setting@example.com"))
    changed = client.patch("/api/v1/me/settings", json={"locale": "ar"}, headers=headers)
    assert changed.status_code == 200 and changed.get_json()["locale"] == "ar"
    refused = client.patch("/api/v1/me/settings", json={"locale": "xx"}, headers=headers)
    assert refused.status_code == 422 and "locale" in str(refused.get_json())
    assert client.get("/api/v1/me/settings", headers=headers).get_json()["locale"] == "ar"


def test_an_arabic_event_page_reads_right_to_left_and_marks_the_organizers_language(app, client, make_user, bearer):
    headers = bearer(make_user("host@example.com"))
    event = create_event(client, headers, title="Lesekreis", language="de")
    assert event["language"] == "de"
    refused = client.patch(f"/api/v1/events/{event['id']}", json={"language": "not a tag"}, headers=headers)
    assert refused.status_code == 422 and "language" in str(refused.get_json())
    page = client.get(f"/e/{event['slug']}", headers={"Accept-Language": "ar"}).get_data(as_text=True)
    assert '<html lang="ar" dir="rtl">' in page
    assert '<h1 id="event-title" lang="de">Lesekreis</h1>' in page


class VisibleText(HTMLParser):
    """The text a reader sees: no script, style or <time> (Babel writes dates in the locale's
    own CLDR words), nor what the organizer wrote (marked with lang), what screen readers skip
    (aria-hidden) or what is the same in every language (translate="no": a zone's IANA name)."""

    SKIPPED = {"script", "style", "time", "code", "textarea", "option"}
    VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}
    # Addresses and links read the same in every language.
    NOT_WORDS = re.compile(r"\S+@\S+|\bhttps?://\S*|\b[\w-]+\.(?:com|org|net|example)\S*")

    def __init__(self):
        super().__init__()
        self.open, self.words = [], []  # each open element: (tag, whether its text is skipped)

    def handle_starttag(self, tag, attrs):
        if tag in self.VOID:
            return
        attrs = dict(attrs)
        skipped = (bool(self.open and self.open[-1][1]) or tag in self.SKIPPED or bool(attrs.get("lang")) and tag != "html"
                   or attrs.get("aria-hidden") == "true" or attrs.get("translate") == "no")
        self.open.append((tag, skipped))

    def handle_endtag(self, tag):
        if any(open_tag == tag for open_tag, _skipped in self.open):
            while self.open.pop()[0] != tag:
                pass

    def handle_data(self, data):
        if not (self.open and self.open[-1][1]):
            self.words += re.findall(r"\b[A-Za-z]{3,}\b", self.NOT_WORDS.sub(" ", data))


# Names that stay as they are in every language.
PROPER_NAMES = {"Soonish", "Slack", "Discord", "Apprise", "ntfy", "Telegram", "Gotify", "SMS", "CSV", "API",
                "Pseudo", "Alpine", "GitHub", "Google", "Outlook", "Apple", "iCal", "RSVP", "RSVPs", "URL", "HTTP"}


def unmarked_english(html: str) -> set[str]:
    parser = VisibleText()
    parser.feed(html)
    return set(parser.words) - PROPER_NAMES


def test_no_page_shows_english_left_unmarked_in_pseudo_english(app, client, make_user, bearer, login):
    app.config["PSEUDO_LOCALE"] = True
    host = make_user("pseudo@example.com")
    headers = bearer(host)
    # The organizer's own words (and name) in a script the check never reads as English.
    with app.app_context():
        db.session.get(User, host.id).display_name = "Ελένη"
        db.session.commit()
    event = create_event(client, headers, title="Συνάντηση", location="Αθήνα", description="Καλώς ήρθατε")
    pseudo = {"Accept-Language": i18n.PSEUDO_LOCALE.replace("_", "-")}
    pages = ["/", f"/e/{event['slug']}", "/login", "/register", "/forgot-password"]
    found = {}
    for path in pages:
        response = client.get(path, headers=pseudo)
        assert response.status_code == 200, path
        assert f'lang="{i18n.PSEUDO_LOCALE.replace("_", "-")}"' in response.get_data(as_text=True)
        if left := unmarked_english(response.get_data(as_text=True)):
            found[path] = sorted(left)
    login(host)
    for rule in app.url_map.iter_rules():
        if "GET" in rule.methods and not rule.arguments and not rule.rule.startswith(("/api", "/static", "/dev")):
            response = client.get(rule.rule, headers=pseudo)
            if response.status_code == 200 and response.mimetype == "text/html":
                if left := unmarked_english(response.get_data(as_text=True)):
                    found[rule.rule] = sorted(left)
    for path in (f"/e/{event['slug']}", f"/events/{event['id']}/edit"):
        if left := unmarked_english(client.get(path, headers=pseudo).get_data(as_text=True)):
            found[path] = sorted(left)
    assert found == {}


@pytest.mark.parametrize("locale", ["fr", "ar"])
def test_a_mail_written_in_a_forced_locale_reads_as_flask_babels_translation_of_it(app, locale):
    """Workers write mails through render_in, whose templates ask the catalog directly rather
    than through Flask-Babel's per-string lookup: the words, plurals and escaping are the same."""
    from flask import render_template
    from flask_babel import force_locale

    context = dict(owner='Ana <ana@example.com> & co', address="ana+news@example.com", days=3,
                   verify_url="https://soonish.example/v?x=1&y=2", user=User(email="a<b>@example.com"))
    with app.test_request_context():
        for template in ("mail/verify_channel.html", "mail/verify_channel.txt", "mail/verify.html"):
            with force_locale(locale):
                through_flask_babel = render_template(template, **context)
            with i18n.render_in(locale):
                written = render_template(template, **context)
            with i18n.render_in("en"):
                english = render_template(template, **context)
            assert written == through_flask_babel
            assert written != english, f"{template} reads as English in {locale}"
        # What someone typed is escaped in HTML, as ever, and left alone in plain text.
        assert "Ana &lt;ana@example.com&gt; &amp; co" in render_template("mail/verify_channel.html", **context)
        assert "Ana <ana@example.com> & co" in render_template("mail/verify_channel.txt", **context)
