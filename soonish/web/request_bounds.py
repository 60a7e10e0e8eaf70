"""Bounds on what a request may carry, checked before anything reads it: the length of its URL,
the size of its body (MAX_CONTENT_LENGTH, or a route's own cap where uploads happen) and how
deep a JSON body nests. Each refusal is an HTTP error, so the API answers it as JSON and pages
with the error page."""
import json

from flask import Flask, current_app, request
from flask_smorest import abort
from werkzeug.exceptions import RequestURITooLarge

from soonish.i18n import _

# The longest path and query string the app reads. Every URL the app makes is far shorter (a
# list's Link header carries at most a 500-character cursor and a 200-character search), and it
# stays below the request line gunicorn reads (GUNICORN_REQUEST_LINE_MAX, and its default of
# 4094 for `gunicorn wsgi:app`), so the app, not gunicorn's HTML page, answers a longer one.
URL_MAX_BYTES = 4000
# gunicorn's limit on "GET <path>?<query> HTTP/1.1", set where gunicorn is configured (cli.py):
# its highest setting, so between URL_MAX_BYTES and this the app answers with its own 414.
GUNICORN_REQUEST_LINE_MAX = 8190
# No request of the API nests deeper than a handful of levels. Python's json parser recurses
# once per level and fails with a RecursionError from about 1,000 (a 2 kB body).
JSON_DEPTH_MAX = 32


def body_limit(max_bytes: int):
    """A route's own cap on its request body (an upload), instead of MAX_CONTENT_LENGTH. Set
    before any other hook reads the body (the CSRF check parses forms)."""

    def decorate(view):
        view.max_body_bytes = max_bytes
        return view

    return decorate


def init_app(app: Flask) -> None:
    app.before_request(check_request_bounds)


def check_request_bounds() -> None:
    path = request.environ.get("SCRIPT_NAME", "") + request.environ.get("PATH_INFO", "")
    if len(path) + len(request.query_string) > URL_MAX_BYTES:
        raise RequestURITooLarge(_("The address is longer than %(max)s bytes: send less in the query string.", max=URL_MAX_BYTES))
    cap = getattr(current_app.view_functions.get(request.endpoint), "max_body_bytes", None)
    if cap is not None:
        request.max_content_length = cap
    # get_data refuses a body over the cap with a 413 before reading it; the body stays cached
    # for the parsers after this one.
    if request.is_json:
        refuse_unsafe_json(request.get_data(cache=True))


def refuse_unsafe_json(body: bytes, depth_max: int = JSON_DEPTH_MAX) -> None:
    """A 400 for a body that is not JSON or nests deeper than ``depth_max``, in webargs' shape
    (a "json" field). Parsed here, nearer the bottom of the stack than any later parser, and
    refused when not JSON too: what parses here without a RecursionError and is shallow, parses
    anywhere. An empty body is no body (webargs reads it as missing)."""
    if not body:
        return
    try:
        too_deep = _deeper_than(json.loads(body), depth_max)
    except RecursionError:
        too_deep = True
    except ValueError:
        abort(400, messages={"json": ["Invalid JSON body."]})
    if too_deep:
        abort(400, message=_("The request body nests deeper than %(max)s levels.", max=depth_max),
              messages={"json": [_("Nested deeper than %(max)s levels.", max=depth_max)]})


def _deeper_than(document, depth_max: int) -> bool:
    """Whether arrays or objects nest deeper than ``depth_max`` in ``document``: a level at a
    time, without recursion."""
    level = [document]
    for _level in range(depth_max):
        level = [child for node in level if isinstance(node, (dict, list))
                 for child in (node.values() if isinstance(node, dict) else node)]
        if not level:
            return False
    return any(isinstance(node, (dict, list)) for node in level)
