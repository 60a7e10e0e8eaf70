"""Cover images: JPEG/PNG/WebP up to 5 MB, re-encoded to a 1200×630 JPEG with the EXIF gone,
kept in the database and served with Cache-Control and an ETag; anything else refused clearly."""
import io
import re
from html import unescape

import pytest
from PIL import Image

from soonish.models import EventCover, db

from .api_helpers import create_event
from .conftest import csrf_token


@pytest.fixture
def host(make_user):
    return make_user("host@example.com")


@pytest.fixture
def event(client, host, bearer):
    return create_event(client, bearer(host), title="Rooftop jazz")


def picture(kind: str, size=(2000, 1500), exif: bool = False) -> bytes:
    image = Image.new("RGB", size, "#cc3300")
    out = io.BytesIO()
    if exif:
        tags = Image.Exif()
        tags[0x010F] = "SpyCam"  # Make
        tags[0x0112] = 6  # Orientation: rotate 90° to be upright
        image.save(out, kind, exif=tags.tobytes())
    else:
        image.save(out, kind)
    return out.getvalue()


def upload(client, event, data: bytes, filename: str = "cover.jpg"):
    """The upload form's POST; the page it lands on, as text."""
    page = f"/e/{event['slug']}"
    return client.post(f"/events/{event['id']}/cover", content_type="multipart/form-data", data={
        "csrf_token": csrf_token(client, page), "cover": (io.BytesIO(data), filename)}, follow_redirects=True)


def test_a_cover_is_reencoded_stripped_and_served_with_cache_headers(app, client, event, host, login):
    login(host)
    response = upload(client, event, picture("JPEG", exif=True))
    assert "Cover image saved" in response.get_data(as_text=True)
    with app.app_context():
        stored = db.session.get(EventCover, event["id"])
        kept = Image.open(io.BytesIO(stored.image))
        assert kept.format == "JPEG" and kept.size == (1200, 630)
        assert not kept.getexif()  # no camera, no location, nothing
        assert b"SpyCam" not in stored.image

    page = client.get(f"/e/{event['slug']}").get_data(as_text=True)
    # The page leads with the cover; the card crawlers get is the share image drawn over it.
    assert f'<img src="/e/{event["slug"]}/cover.jpg?v=' in page
    card = re.search(r'property="og:image" content="http://soonish\.test(/e/[^"]+/share\.png\?v=[^"]+)"', page).group(1)
    with_cover = client.get(card.replace("&amp;", "&"))
    assert with_cover.status_code == 200 and with_cover.mimetype == "image/png"
    served = client.get(f"/e/{event['slug']}/cover.jpg")
    assert served.status_code == 200 and served.mimetype == "image/jpeg"
    assert "public" in served.headers["Cache-Control"] and served.headers["ETag"]
    assert client.get(f"/e/{event['slug']}/cover.jpg", headers={"If-None-Match": served.headers["ETag"]}).status_code == 304

    client.post(f"/events/{event['id']}/cover/delete", data={"csrf_token": csrf_token(client, f"/e/{event['slug']}")})
    assert client.get(f"/e/{event['slug']}/cover.jpg").status_code == 404
    without = re.search(r'property="og:image" content="http://soonish\.test(/e/[^"]+/share\.png\?v=[^"]+)"',
                        client.get(f"/e/{event['slug']}").get_data(as_text=True)).group(1)
    assert without != card  # a new card URL: crawlers that cache by URL fetch the new image
    assert client.get(without).data != with_cover.data


@pytest.mark.parametrize("kind", ["PNG", "WEBP"])
def test_png_and_webp_are_taken(app, client, event, host, login, kind):
    login(host)
    assert "Cover image saved" in upload(client, event, picture(kind, (800, 800))).get_data(as_text=True)


def test_other_files_are_refused_clearly_and_nothing_is_kept(app, client, event, host, login):
    login(host)
    gif = io.BytesIO()
    Image.new("RGB", (10, 10)).save(gif, "GIF")
    assert "GIF images aren't taken; use a JPEG, PNG or WebP." in unescape(upload(client, event, gif.getvalue()).get_data(as_text=True))
    assert "isn't an image we can read" in unescape(upload(client, event, b"<svg xmlns='http://www.w3.org/2000/svg'/>").get_data(as_text=True))
    big = picture("PNG", (10, 10)) + b"\0" * (5 * 1024 * 1024)
    response = upload(client, event, big)
    assert response.status_code == 413 or "over 5 MB" in response.get_data(as_text=True)
    with app.app_context():
        assert db.session.query(EventCover).count() == 0


def test_only_the_organizer_may_set_a_cover(client, event, make_user, login):
    login(make_user("stranger@example.com"))
    response = upload(client, event, picture("JPEG"))
    assert response.status_code == 403
