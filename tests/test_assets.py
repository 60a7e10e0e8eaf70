"""Static files a CDN can keep: every asset a page names carries its content hash and answers
immutable, precompressed (brotli, gzip) by Accept-Encoding; a changed file gets a new URL; pages
stay no-cache; SOONISH_STATIC_URL moves the assets and the Content-Security-Policy follows;
share images named by their version are kept as long."""
import gzip
import re
import shutil
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import brotli
import pytest

from soonish.web import create_app
from soonish.web.assets import HASHED_NAME, IMMUTABLE

from .api_helpers import create_event

STATIC = Path(__file__).resolve().parents[1] / "static"
ASSET = re.compile(r'(?:src|href)="([^"]*/static/[^"]+)"')
# WhiteNoise sends the smallest body the request accepts: an image compressed already (the home
# screen icon, a PNG) comes out no smaller as .gz, so it goes as it is.
ALREADY_COMPRESSED = (".png",)


def asset_urls(page: str) -> list[str]:
    return ASSET.findall(page)


def test_every_asset_of_every_page_is_hashed_immutable_and_precompressed(client, organizer, host, login):
    event = create_event(client, organizer, title="Rooftop jazz")
    anonymous_pages = ["/", "/login", "/register", f"/e/{event['slug']}", f"/hosts/{host.id}", "/api/v1/docs"]
    urls = {url for path in anonymous_pages for url in asset_urls(client.get(path).get_data(as_text=True))}
    login(host)
    for path in ("/dashboard", f"/e/{event['slug']}", "/account"):
        page = client.get(path)
        assert page.status_code == 200, path
        urls |= set(asset_urls(page.get_data(as_text=True)))
    # The site's own pages and the API docs: stylesheet, scripts, icon and Swagger UI's files.
    assert len(urls) >= 9, urls
    for url in sorted(urls):
        assert HASHED_NAME.search(url), url
        plain = client.get(url)
        original = (STATIC / re.sub(r"-[0-9a-f]{32}", "", url.removeprefix("/static/"))).read_bytes()
        assert plain.status_code == 200 and plain.data == original and "Content-Encoding" not in plain.headers
        assert plain.headers["Cache-Control"] == IMMUTABLE
        # Security headers on static files too (served before Flask's hooks).
        assert plain.headers["X-Content-Type-Options"] == "nosniff"
        if url.endswith(ALREADY_COMPRESSED):
            continue
        squeezed = client.get(url, headers={"Accept-Encoding": "gzip, deflate, br"})
        assert squeezed.headers["Content-Encoding"] == "br" and brotli.decompress(squeezed.data) == original
        assert squeezed.headers["Cache-Control"] == IMMUTABLE and squeezed.headers["Vary"] == "Accept-Encoding"
        zipped = client.get(url, headers={"Accept-Encoding": "gzip"})
        assert zipped.headers["Content-Encoding"] == "gzip" and gzip.decompress(zipped.data) == original


def test_pages_are_revalidated_and_plain_asset_names_still_answer(client):
    page = client.get("/login")
    assert page.headers["Cache-Control"] == "no-cache, private"  # it carries this visitor's CSRF token
    # A fixed URL (a service worker script needs one) answers too, revalidated on every use.
    plain = client.get("/static/js/soonish.js")
    assert plain.status_code == 200 and plain.headers["Cache-Control"] == "no-cache"


def test_the_service_worker_stays_at_the_site_root_and_the_manifest_names_hashed_icons(client):
    # A worker's scope is its script's folder, and a browser keeps the worker it registered by
    # that URL: /sw.js, on our own origin, revalidated on every use, under the site's policy.
    worker = client.get("/sw.js")
    assert worker.status_code == 200 and worker.data == (STATIC / "js" / "sw.js").read_bytes()
    assert worker.headers["Cache-Control"] == "no-cache" and "Content-Security-Policy" in worker.headers
    icons = client.get("/manifest.webmanifest").get_json()["icons"]
    assert len(icons) == 2 and all(HASHED_NAME.search(icon["src"]) for icon in icons)


@pytest.fixture
def own_static(tmp_path) -> Path:
    """A copy of static/ to change (without Swagger UI: brotli at its best level takes seconds on it)."""
    folder = tmp_path / "static"
    shutil.copytree(STATIC, folder, ignore=shutil.ignore_patterns("swagger-ui", "*.gz", "*.br", "cache_manifest.json",
                                                                   "*-" + "[0-9a-f]" * 32 + "*"))
    return folder


def stylesheet_url(app) -> str:
    page = app.test_client().get("/login").get_data(as_text=True)
    return next(url for url in asset_urls(page) if "/css/soonish" in url)


def test_changing_a_file_changes_its_url_and_the_old_one_still_answers(app_config, own_static):
    app_config["STATIC_FOLDER"] = str(own_static)
    before = stylesheet_url(create_app(app_config))
    stylesheet = own_static / "css" / "soonish.css"
    stylesheet.write_text(stylesheet.read_text() + "\n.deployed { color: red; }\n")
    restarted = create_app(app_config)  # a deploy: the next start builds again
    after = stylesheet_url(restarted)
    assert after != before and HASHED_NAME.search(after)
    client = restarted.test_client()
    assert b".deployed" in client.get(after).data
    # A page rendered before the deploy still gets its stylesheet.
    old = client.get(before)
    assert old.status_code == 200 and b".deployed" not in old.data


def test_a_cdn_origin_serves_the_assets_and_the_policy_allows_it(app_config, own_static):
    app_config.update(STATIC_FOLDER=str(own_static), STATIC_URL="https://cdn.soonish.example/")
    page = create_app(app_config).test_client().get("/login")
    urls = asset_urls(page.get_data(as_text=True))
    assert urls and all(url.startswith("https://cdn.soonish.example/static/") and HASHED_NAME.search(url) for url in urls)
    csp = dict(part.strip().split(" ", 1) for part in page.headers["Content-Security-Policy"].split(";"))
    for directive in ("script-src", "style-src", "img-src"):
        assert csp[directive].split()[:2] == ["'self'", "https://cdn.soonish.example"], directive
    assert csp["frame-ancestors"] == "'none'" and csp["form-action"] == "'self'"


def test_a_share_image_named_by_its_version_is_kept_for_a_year(client, organizer):
    event = create_event(client, organizer, title="Rooftop jazz")
    page = client.get(f"/e/{event['slug']}").get_data(as_text=True)
    image = re.search(r'property="og:image" content="http://soonish.test([^"]+)"', page).group(1).replace("&amp;", "&")
    response = client.get(image)
    assert response.status_code == 200 and response.headers["Cache-Control"] == IMMUTABLE
    assert parse_qs(urlsplit(image).query)["v"] == [response.headers["ETag"].strip('"')]
    # Asked for without its version (or an old one), it may change: kept briefly.
    assert "max-age=600" in client.get(f"/e/{event['slug']}/share.png?v=old").headers["Cache-Control"]
