"""What makes Soonish installable and able to show notifications: the web app manifest and the
service worker, served from the site's root so the worker's scope is the whole site."""
from flask import Blueprint, current_app, jsonify, send_from_directory

from soonish.i18n import _, current_locale, is_rtl
from soonish.web.assets import asset_url

bp = Blueprint("push", __name__)

THEME_COLOUR = "#4338ca"  # the brand colour (static/css/soonish.css --brand)


@bp.get("/manifest.webmanifest")
def manifest():
    response = jsonify({
        "name": "Soonish",
        "short_name": "Soonish",
        "description": _("Events you follow: the organizer's news and reminders, where you already are."),
        "lang": current_locale().replace("_", "-"), "dir": "rtl" if is_rtl(current_locale()) else "ltr",
        "id": "/",
        "start_url": "/",
        "scope": "/",
        "display": "standalone",
        "background_color": "#f5f6fa",
        "theme_color": THEME_COLOUR,
        "icons": [
            {"src": asset_url(f"icons/soonish-{size}.png"), "sizes": f"{size}x{size}",
             "type": "image/png", "purpose": "any"}
            for size in (192, 512)
        ],
    })
    response.mimetype = "application/manifest+json"
    response.vary.add("Accept-Language")  # its words are the reader's language
    return response


@bp.get("/sw.js")
def service_worker():
    # Browsers check for a new worker on navigation; a cached one would hold the old code a day.
    response = send_from_directory(current_app.static_folder, "js/sw.js", mimetype="text/javascript", max_age=0)
    response.headers["Cache-Control"] = "no-cache"
    return response
