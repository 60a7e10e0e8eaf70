"""What a shared event link shows: "Add to calendar" links for Google and Outlook, the Open
Graph / Twitter card tags, and a generated 1200×630 share image. Plain functions of an event,
used by the pages and the mails alike (imports nothing of web, services or temporal)."""
import hashlib
import io
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from functools import lru_cache
from pathlib import Path
from urllib.parse import urlencode

from PIL import Image, ImageColor, ImageDraw, ImageFont, ImageOps, UnidentifiedImageError

from soonish.domain import avatars
from soonish.domain.messages import when_text
from soonish.i18n import _, _l, current_locale, is_rtl, ngettext
from soonish.models import Event, Visibility

# An event without an end is put in calendars as one hour long.
DEFAULT_LENGTH = timedelta(hours=1)
DESCRIPTION_EXCERPT = 200
IMAGE_SIZE = (1200, 630)
FONT_DIR = Path("/usr/share/fonts/truetype/dejavu")


@dataclass(frozen=True)
class CalendarLinks:
    google: str
    outlook: str


def _utc(moment: datetime) -> datetime:
    return moment.astimezone(timezone.utc)


def calendar_links(event: Event, event_url: str) -> CalendarLinks:
    """Links that open Google Calendar and Outlook.com with the event filled in, in UTC (each
    calendar shows it in its owner's zone)."""
    starts = _utc(event.starts_at)
    ends = _utc(event.ends_at) if event.ends_at else starts + DEFAULT_LENGTH
    details = "\n\n".join(part for part in (event.description[:DESCRIPTION_EXCERPT], event_url) if part)
    google = "https://calendar.google.com/calendar/render?" + urlencode({
        "action": "TEMPLATE",
        "text": event.title,
        "dates": f"{starts:%Y%m%dT%H%M%SZ}/{ends:%Y%m%dT%H%M%SZ}",
        "details": details,
        "location": event.location or "",
        "ctz": event.timezone,
    })
    outlook = "https://outlook.live.com/calendar/0/action/compose?" + urlencode({
        "rru": "addevent",
        "subject": event.title,
        "startdt": f"{starts:%Y-%m-%dT%H:%M:%SZ}",
        "enddt": f"{ends:%Y-%m-%dT%H:%M:%SZ}",
        "body": details,
        "location": event.location or "",
    })
    return CalendarLinks(google, outlook)


JOIN_OPENS_BEFORE = timedelta(minutes=15)


def join_open(event: Event, now: datetime) -> bool:
    """Followers see the Join button from 15 minutes before the start until the end."""
    return bool(event.online_url) and event.starts_at - JOIN_OPENS_BEFORE <= now <= event.finishes_at + DEFAULT_LENGTH


def shareable(event: Event) -> bool:
    """Public and unlisted events get cards and an image; a private one exposes nothing."""
    return event.visibility != Visibility.PRIVATE


def excerpt(text: str, limit: int = DESCRIPTION_EXCERPT) -> str:
    text = " ".join((text or "").split())
    return text if len(text) <= limit else text[: limit - 1].rsplit(" ", 1)[0] + "…"


def card_tags(event: Event, event_url: str, image_url: str) -> list[tuple[str, str, str]]:
    """(attribute, name, content) of each Open Graph / Twitter card meta tag; none when private."""
    if not shareable(event):
        return []
    when = when_text(event)
    description = excerpt(f"{when}. {event.location + '. ' if event.location else ''}{event.description or ''}")
    return [
        ("property", "og:type", "website"),
        ("property", "og:site_name", "Soonish"),
        ("property", "og:title", event.title),
        ("property", "og:description", description),
        ("property", "og:url", event_url),
        ("property", "og:image", image_url),
        ("property", "og:image:width", str(IMAGE_SIZE[0])),
        ("property", "og:image:height", str(IMAGE_SIZE[1])),
        ("property", "og:image:alt", f"{event.title}, {when}"),
        ("name", "twitter:card", "summary_large_image"),
        ("name", "twitter:title", event.title),
        ("name", "twitter:description", description),
        ("name", "twitter:image", image_url),
    ]


def host_card_tags(name: str, page_url: str, events: list[Event], image_url: str | None) -> list[tuple[str, str, str]]:
    """The Open Graph / Twitter card tags of a host's page: their upcoming public events, with
    the soonest one's image when there is one."""
    title = _("Events hosted by %(host)s", host=name)
    if events:
        listed = ", ".join(event.title for event in events[:3]) + (", …" if len(events) > 3 else "")
        description = excerpt(ngettext("%(count)s upcoming event: %(events)s.", "%(count)s upcoming events: %(events)s.",
                                       len(events), count=len(events), events=listed))
    else:
        description = _("No upcoming public events right now.")
    return _page_card_tags("profile", title, description, page_url, image_url)


def series_card_tags(title: str, summary: str, description: str, page_url: str,
                     image_url: str | None) -> list[tuple[str, str, str]]:
    """The Open Graph / Twitter card tags of a series' page (public or unlisted): its rule in
    words, and its next occurrence's image when there is one."""
    return _page_card_tags("website", title, excerpt(_("A series: %(summary)s. %(description)s", summary=summary,
                                                       description=description)), page_url, image_url)


def _page_card_tags(og_type: str, title: str, description: str, page_url: str,
                    image_url: str | None) -> list[tuple[str, str, str]]:
    """A host's or a series' card: a large image when the page has one, a plain summary else."""
    tags = [
        ("property", "og:type", og_type),
        ("property", "og:site_name", "Soonish"),
        ("property", "og:title", title),
        ("property", "og:description", description),
        ("property", "og:url", page_url),
        ("name", "twitter:card", "summary_large_image" if image_url else "summary"),
        ("name", "twitter:title", title),
        ("name", "twitter:description", description),
    ]
    if image_url:
        tags += [("property", "og:image", image_url), ("name", "twitter:image", image_url)]
    return tags


def image_etag(event: Event, cover_etag: str | None = None, locale: str = "en") -> str:
    """Changes whenever what the image shows may change (the event's version counts edits, the
    cover's ETag a new cover, the language its words and date are written in)."""
    organizer = event.organizer.display_name or ""
    return hashlib.sha256(f"{event.id}:{event.version}:{event.status.value}:{organizer}:{cover_etag}:{locale}".encode()
                          ).hexdigest()[:32]


@lru_cache(maxsize=8)
def _font(bold: bool, size: int) -> ImageFont.FreeTypeFont:
    path = FONT_DIR / ("DejaVuSans-Bold.ttf" if bold else "DejaVuSans.ttf")
    return ImageFont.truetype(str(path), size) if path.exists() else ImageFont.load_default(size)


def _wrap(draw: ImageDraw.ImageDraw, text: str, font, width: int, max_lines: int) -> list[str]:
    lines: list[str] = []
    for word in text.split():
        candidate = f"{lines[-1]} {word}" if lines else word
        if lines and draw.textlength(candidate, font=font) <= width:
            lines[-1] = candidate
        else:
            lines.append(word)
    if len(lines) > max_lines:
        lines = lines[:max_lines]
        lines[-1] = lines[-1].rstrip(".,;:") + "…"
    return lines


def visual_seed(event: Event) -> str:
    """What an event's generated visual is made from: the page's and the card's are the same."""
    return f"event:{event.id}:{event.title}"


def _background(event: Event, cover: bytes | None) -> Image.Image:
    """The cover under a dark gradient that keeps white text legible, or without a cover the
    event's own two colours and pattern (avatars.event_colours)."""
    width, height = IMAGE_SIZE
    if cover is not None:
        with Image.open(io.BytesIO(cover)) as picture:
            image = picture.convert("RGB").resize(IMAGE_SIZE)
        shade = Image.linear_gradient("L").resize(IMAGE_SIZE)  # black at the top, white at the bottom
        # From a light veil at the top to 85% black under the text.
        mask = shade.point(lambda value: 90 + value * 130 // 255)
        image.paste(Image.new("RGB", IMAGE_SIZE, "black"), (0, 0), mask)
        return image
    seed = visual_seed(event)
    start, end = (ImageColor.getrgb(c) for c in avatars.event_colours(seed))
    down = Image.linear_gradient("L").resize(IMAGE_SIZE)
    mask = Image.blend(down, Image.linear_gradient("L").rotate(90).resize(IMAGE_SIZE), 0.5)  # corner to corner
    image = Image.composite(Image.new("RGB", IMAGE_SIZE, end), Image.new("RGB", IMAGE_SIZE, start), mask)
    draw = ImageDraw.Draw(image, "RGBA")
    digest = hashlib.sha256(seed.encode()).digest()
    if avatars.event_pattern(seed) == "dots":
        for x in range(40, width, 80):
            for y in range(40, height, 80):
                draw.ellipse((x - 6, y - 6, x + 6, y + 6), fill=(255, 255, 255, 30))
    else:
        for i in range(4):
            x, y, r = 200 + digest[3 + i] * 4, int(digest[8 + i] * 2.5), 60 + digest[12 + i]
            draw.ellipse((x - r, y - r, x + r, y + r), fill=(255, 255, 255, 30))
    return image


def share_image(event: Event, cover: bytes | None = None) -> bytes:
    """A 1200×630 PNG card: title, date (in the event's zone), place and organizer, over the
    cover (``cover``: its JPEG) or the event's generated visual. Its words and date in the
    language being written in; a right-to-left one mirrors the card (text from the right edge,
    the brand on the left), each line laid out by its own direction (Pillow's Raqm layout)."""
    width, height = IMAGE_SIZE
    image = _background(event, cover)
    draw = ImageDraw.Draw(image, "RGBA")
    draw.rectangle((0, height - 90, width, height), fill=(0, 0, 0, 110))
    margin = 80
    rtl = is_rtl(current_locale())
    start, end = (width - margin, margin) if rtl else (margin, width - margin)

    def write(x: int, y: int, text: str, font, fill: str, at_start: bool = True) -> None:
        # The anchor's first letter is the side of ``x`` the text sits on: left, or right.
        draw.text((x, y), text, font=font, fill=fill, anchor="ra" if rtl == at_start else "la")

    title_font = _font(True, 72)
    lines = _wrap(draw, event.title, title_font, width - 2 * margin, 3)
    y = 90
    for line in lines:
        write(start, y, line, title_font, "white")
        y += 88
    y += 20
    write(start, y, when_text(event), _font(False, 40), "#e0e7ff")
    if event.location:
        write(start, y + 56, excerpt(event.location, 60), _font(False, 34), "#c7d2fe")
    organizer = event.organizer.display_name or _("its organizer")
    write(start, height - 68, _("Hosted by %(host)s", host=excerpt(organizer, 50)), _font(False, 34), "white")
    write(end, height - 70, "Soonish", _font(True, 38), "#a5b4fc", at_start=False)
    out = io.BytesIO()
    image.save(out, "PNG", optimize=True)
    return out.getvalue()


# Covers: what organizers may upload, and what is kept of it.
COVER_MAX_BYTES = 5 * 1024 * 1024
COVER_FORMATS = {"JPEG", "PNG", "WEBP"}
COVER_MAX_PIXELS = 50_000_000  # a 5 MB file can still decode to a huge bitmap; refuse early


class CoverRefused(ValueError):
    """An upload that is not a cover we take; the message says why, for the organizer."""


def process_cover(data: bytes) -> bytes:
    """A JPEG, PNG or WebP of up to 5 MB, re-encoded as a 1200×630 JPEG (cropped to the card's
    shape around its centre, turned upright by its EXIF orientation). Nothing of the original
    file survives: no EXIF (location, camera), no other metadata."""
    if not data:
        raise CoverRefused(_l("Choose an image file."))
    if len(data) > COVER_MAX_BYTES:
        raise CoverRefused(_l("That image is over 5 MB; use a smaller one."))
    try:
        with Image.open(io.BytesIO(data)) as probe:
            kind = probe.format
            pixels = probe.width * probe.height
    except (UnidentifiedImageError, OSError) as exc:
        raise CoverRefused(_l("That file isn't an image we can read; use a JPEG, PNG or WebP.")) from exc
    if kind not in COVER_FORMATS:
        raise CoverRefused(_l("%(kind)s images aren't taken; use a JPEG, PNG or WebP.", kind=kind) if kind
                           else _l("That kind of image isn't taken; use a JPEG, PNG or WebP."))
    if pixels > COVER_MAX_PIXELS:
        raise CoverRefused(_l("That image has too many pixels; use one under 50 megapixels."))
    try:
        with Image.open(io.BytesIO(data)) as image:
            upright = ImageOps.exif_transpose(image).convert("RGB")
    except (OSError, ValueError, Image.DecompressionBombError) as exc:
        raise CoverRefused(_l("That image is damaged or unreadable; try exporting it again.")) from exc
    card = ImageOps.fit(upright, IMAGE_SIZE, Image.Resampling.LANCZOS)
    out = io.BytesIO()
    card.save(out, "JPEG", quality=85, optimize=True, progressive=True)
    return out.getvalue()
