"""Building the message catalogs: each language's .po compiled to the .mo gettext reads, and the
accented pseudo-English written from the template (``python -m soonish.i18n.catalogs``; ``make
translations``, which ``make run``, ``make test`` and ``make install`` do first). The .mo files are
built, never committed; `make messages` extracts and updates the .po files translators edit.

Infrastructure for soonish.i18n: imports nothing else of the package."""
import os
import re
import sys
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po, write_po

from soonish.i18n import DOMAIN, PSEUDO_LOCALE, TRANSLATIONS_DIR

TEMPLATE = TRANSLATIONS_DIR / f"{DOMAIN}.pot"

# Each ASCII letter's accented look-alike: pseudo-English stays readable, and any word of plain
# ASCII letters left on a page in it was never marked for translation.
PSEUDO_LETTERS = str.maketrans(
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ",
    "áƀçđéƒĝĥíĵķĺɱñóƥʠŕšţúṽŵẋýžÁƁÇĐÉƑĜĤÍĴĶĹṀÑÓƤɊŔŠŢÚṼŴẊÝŽ",
)
# What must reach the output as written: placeholders (%(name)s, %s, {name}), markup and
# entities, and the addresses some strings hold.
UNTOUCHED = re.compile(r"%\([^)]*\)[a-z]|%[a-z%]|\{[^}]*\}|<[^>]*>|&[#\w]+;|https?://\S+")


def pseudo(text: str) -> str:
    """``text`` in accented pseudo-English, placeholders and markup kept."""
    kept, out = 0, []
    for match in UNTOUCHED.finditer(text):
        out.append(text[kept:match.start()].translate(PSEUDO_LETTERS))
        out.append(match.group())
        kept = match.end()
    out.append(text[kept:].translate(PSEUDO_LETTERS))
    return "".join(out)


def po_path(locale: str) -> Path:
    return TRANSLATIONS_DIR / locale / "LC_MESSAGES" / f"{DOMAIN}.po"


def write_pseudo_catalog() -> Path:
    """The pseudo-locale's .po, every msgid of the template in accented pseudo-English."""
    with TEMPLATE.open("rb") as source:
        template = read_po(source)
    catalog = Catalog(locale=PSEUDO_LOCALE, domain=DOMAIN, fuzzy=False)
    for message in template:
        if not message.id:
            continue
        if message.pluralizable:
            string = tuple(pseudo(form) for form in message.id)
        else:
            string = pseudo(message.id)
        catalog.add(message.id, string, context=message.context, flags=message.flags - {"fuzzy"})
    path = po_path(PSEUDO_LOCALE)
    path.parent.mkdir(parents=True, exist_ok=True)
    return _written(path, write_po, catalog)


def _written(path: Path, write, catalog: Catalog) -> Path:
    """``catalog`` written to ``path`` whole or not at all: test processes build at once."""
    partial = path.with_name(f"{path.name}.{os.getpid()}.partial")
    with partial.open("wb") as out:
        write(out, catalog)
    partial.replace(path)
    return path


def compile_catalog(po: Path) -> Path | None:
    """``po`` compiled beside it, when it changed since; None when the catalog is still marked
    fuzzy as a whole (a new language nobody has translated yet: English shows instead)."""
    mo = po.with_suffix(".mo")
    if mo.exists() and mo.stat().st_mtime >= po.stat().st_mtime:
        return mo
    with po.open("rb") as source:
        catalog = read_po(source)
    if catalog.fuzzy:
        return None
    return _written(mo, write_mo, catalog)


def build() -> list[Path]:
    """The pseudo-locale brought up to the template, then every catalog compiled; what was built."""
    pseudo_po = po_path(PSEUDO_LOCALE)
    if TEMPLATE.exists() and (not pseudo_po.exists() or pseudo_po.stat().st_mtime < TEMPLATE.stat().st_mtime):
        write_pseudo_catalog()
    return [mo for po in sorted(TRANSLATIONS_DIR.glob(f"*/LC_MESSAGES/{DOMAIN}.po"))
            if (mo := compile_catalog(po))]


if __name__ == "__main__":
    built = build()
    print(f"{len(built)} catalogs compiled in {TRANSLATIONS_DIR}", file=sys.stderr)
