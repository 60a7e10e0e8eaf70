"""Static files a CDN (or any shared cache) can keep for a year: each file also exists under a
name carrying its content hash, which pages link to; those answer ``Cache-Control: public,
max-age=31536000, immutable`` with a brotli or gzip body made beforehand, chosen by the
request's Accept-Encoding (``Vary: Accept-Encoding``). A changed file gets a new name, so a
deploy never meets a stale copy.

Two well-kept libraries do the work: flask-static-digest names and compresses the files and
writes the manifest (``cache_manifest.json``: name -> hashed name) that ``asset_url`` reads;
WhiteNoise serves them, in front of Flask, picking the precompressed body. The build runs when
the app starts and the manifest is missing or older than a file (``soonish assets`` runs it
ahead, e.g. in an image build): about 5 s of CPU for the whole folder, brotli at its best level
on Swagger UI's 1.7 MB bundle being most of it. Old hashed files stay, so pages rendered before
a deploy keep working.

The plain names still answer (``/static/js/soonish.js``), revalidated on every use (``no-cache``):
for what needs a fixed URL, such as a service worker script.
"""
import fcntl
import json
import os
import re
from pathlib import Path
from flask import Flask, current_app, session
from flask_static_digest import FlaskStaticDigest
from flask_static_digest import digester
from whitenoise import WhiteNoise

from soonish.web.security import security_headers

IMMUTABLE = "public, max-age=31536000, immutable"
REVALIDATE = "no-cache"
MANIFEST = "cache_manifest.json"
# flask-static-digest's hashed names: <name>-<md5 hex>.<ext>
HASHED_NAME = re.compile(r"-[0-9a-f]{32}(\.[^/]*)?$")


def init_app(app: Flask) -> None:
    folder = Path(app.config["STATIC_FOLDER"] or app.static_folder).resolve()
    app.static_folder = str(folder)
    build_if_stale(folder)
    app.config["FLASK_STATIC_DIGEST_HOST_URL"] = app.config["STATIC_URL"].rstrip("/") or None
    # One per app: it keeps the manifest and the CDN origin of the app it was given.
    app.extensions["soonish.assets"] = FlaskStaticDigest(app)
    app.add_template_global(asset_url)
    app.wsgi_app = WhiteNoise(
        app.wsgi_app, root=str(folder), prefix=app.static_url_path, max_age=None,
        immutable_file_test=lambda _path, url: bool(HASHED_NAME.search(url)),
        add_headers_function=_static_headers(app.config),
    )
    app.after_request(html_not_kept)


def asset_url(filename: str) -> str:
    """The URL of ``static/<filename>`` under its hashed name (on SOONISH_STATIC_URL when set);
    the plain name for a file the manifest does not know."""
    return current_app.extensions["soonish.assets"].static_url_for("static", filename=filename)


def _static_headers(config):
    """WhiteNoise's hook: what every static file answers besides its body."""
    always = security_headers(config)

    def add(headers, _path: str, url: str) -> None:
        headers["Cache-Control"] = IMMUTABLE if HASHED_NAME.search(url) else REVALIDATE
        for name, value in always.items():
            headers[name] = value

    return add


def html_not_kept(response):
    """A page is revalidated on every use (and kept by no shared cache when it is someone's
    own): only the assets it names are kept for long."""
    if response.mimetype == "text/html" and "Cache-Control" not in response.headers:
        response.cache_control.no_cache = True
        if session.accessed:  # the page shows this visitor's session (at least its CSRF token)
            response.cache_control.private = True
    return response


def build(folder: Path) -> None:
    """Hashed copies, .gz and .br of every file in ``folder``, and the manifest: the library's
    compile, each file once. Its glob ("**/**") lists a file once per folder above it, and its
    compile made each file under vendor/swagger-ui/ three times (41 compressions for 17 files:
    13.5 s, brotli at its best level nearly all of it, before a fresh clone's tests could start;
    4.2-4.7 s once each)."""
    files = list(dict.fromkeys(digester._filter_files(f"{folder}/", [])))
    digester._save_manifest(digester._generate_manifest(files, True, True, f"{folder}/"), f"{folder}/")


def build_if_stale(folder: Path) -> None:
    """Build unless the manifest names every source file and is newer than each. Processes
    starting together (gunicorn's workers, a parallel test run) take turns on a lock on the
    folder, so one builds and the others find it done."""
    descriptor = os.open(folder, os.O_RDONLY)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX)
        if _stale(folder):
            build(folder)
    finally:
        os.close(descriptor)  # releases the lock


def _stale(folder: Path) -> bool:
    manifest = folder / MANIFEST
    if not manifest.exists():
        return True
    # The library's own choice of files to hash (not the hashed copies, .gz, .br, the manifest).
    sources = [Path(path) for path in digester._filter_files(f"{folder}/", [])]
    known = set(json.loads(manifest.read_text()))
    built_at = manifest.stat().st_mtime
    return {source.relative_to(folder).as_posix() for source in sources} != known or \
        any(source.stat().st_mtime > built_at for source in sources)
