"""Same URL, two shapes: an htmx request gets a page's fragment, a normal request the full page.

Each page template includes its fragment template, so both shapes render the same markup.
"""
from flask import Response, redirect, render_template, request


def is_htmx_request() -> bool:
    return request.headers.get("HX-Request") == "true"


def render_page(page: str, fragment: str, status: int = 200, **context) -> Response:
    """``fragment`` for an htmx request, else the full ``page`` that includes it."""
    response = Response(
        render_template(fragment if is_htmx_request() else page, **context), status=status
    )
    # Caches must keep the two shapes of one URL apart.
    response.vary.add("HX-Request")
    return response


def redirect_to(location: str) -> Response:
    """A redirect a browser and htmx both follow as a full page load.

    htmx reads HX-Redirect; a plain 302 would be followed silently by fetch() and the next page
    swapped into the fragment that made the request. ``location`` must not differ from the
    current page by a #fragment alone: the browser would only scroll, never reload.
    """
    if is_htmx_request():
        response = Response(status=204)
        response.headers["HX-Redirect"] = location
        return response
    return redirect(location)
