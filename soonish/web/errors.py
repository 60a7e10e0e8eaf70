"""A refused operation (a ``ServiceError`` a service raised), shown in one place per front door.

Views call the services and let their errors go. ``init_app`` registers the one handler: under
/api/ it answers the JSON problem (``api.base.service_error_response``); for a page it is

- the error page with the error's status ("We can't find that page" for a 404, "That isn't
  yours to change" for a 403, the service's own sentence for any other kind), the shape an
  ``abort`` gets, as a fragment for an htmx request;
- for a page opened from a link in a mail (a view marked ``@link_page``), "That link didn't
  work" (or "has expired", for a 410) with the service's sentence.

Where a page shows the refusal inside itself, the view says so with one ``with`` around the
operation; the rest of the block is skipped when it is refused:

- ``with refusal_kept(form):`` a form page: the message goes beside the field it names (or at
  the top), and the view renders the form again, as after its own validation failed;
- ``with refusal_flashed():`` an action that redirects: the message is flashed on the page it
  redirects to. NotFound and Forbidden still show the error page unless the view names the
  kinds it flashes.

Both give a ``Refusal`` for the view that also shows it another way (an htmx fragment, a list).
The bots' one place is ``bots.core.Commands._answer``.
"""
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from flask import current_app, flash, render_template, request
from flask_wtf import FlaskForm
from werkzeug.exceptions import default_exceptions

from soonish.services import Forbidden, NotFound, ServiceError
from soonish.web.api.base import API_PREFIX, service_error_response
from soonish.web.htmx import render_page

LINK_PROBLEM = "subscriptions/link_problem.html"


class Refusal:
    """What a ``with refusal_…`` block was refused with, if it was (falsy when it ran through)."""

    error: ServiceError | None = None

    def __bool__(self) -> bool:
        return self.error is not None

    @property
    def message(self) -> str | None:
        """The service's sentence in the request's language (services mark it lazily)."""
        return str(self.error.message) if self.error else None

    @property
    def status(self) -> int:
        return self.error.status if self.error else 200

    @property
    def fields(self) -> dict[str, list[str]]:
        return self.error.fields if self.error else {}

    @property
    def messages(self) -> list[str]:
        """Each field's message, or the one message when no field is named."""
        if self.error is None:
            return []
        return [str(m) for ms in self.error.fields.values() for m in ms] or [str(self.error.message)]


def place_on_form(form: FlaskForm, error: ServiceError) -> None:
    """The error's messages beside the fields they name (a form renames a service's field in
    ``SERVICE_FIELDS``), or at the top of the form when it has none of them."""
    renamed = getattr(form, "SERVICE_FIELDS", {})
    placed = False
    for name, messages in error.fields.items():
        field = getattr(form, renamed.get(name, name), None)
        if field is not None and hasattr(field, "errors"):
            field.errors = list(field.errors) + [str(m) for m in messages]
            placed = True
    if not placed:
        form.form_errors.append(str(error.message))


@contextmanager
def refusal_kept(form: FlaskForm | None = None) -> Iterator[Refusal]:
    """A form page: a refusal of any kind is shown on ``form`` and the view renders it again.
    Without a form the view shows the ``Refusal`` itself (a fragment, a list of messages)."""
    refusal = Refusal()
    try:
        yield refusal
    except ServiceError as error:
        refusal.error = error
        if form is not None:
            place_on_form(form, error)


@contextmanager
def refusal_flashed(*kinds: type[ServiceError]) -> Iterator[Refusal]:
    """An action that redirects: a refusal of ``kinds`` (default: all but NotFound and
    Forbidden, which show the error page) is flashed on the page it redirects to."""
    refusal = Refusal()
    try:
        yield refusal
    except ServiceError as error:
        if not isinstance(error, kinds or ServiceError) or (not kinds and isinstance(error, (NotFound, Forbidden))):
            raise
        refusal.error = error
        flash(str(error.message), "error")


def link_page(view=None, *, event_of: Callable[..., object] | None = None):
    """Marks a page opened from a link in a mail: its refusals say "That link didn't work".
    ``event_of(**view_args)``: the event the link was about, to show beside it."""
    def mark(view):
        view.link_problem_event = event_of or (lambda **_: None)
        return view

    return mark(view) if view is not None else mark


def _page(error: ServiceError):
    view = current_app.view_functions.get(request.endpoint)
    event_of = getattr(view, "link_problem_event", None)
    if event_of is not None:
        body = render_template(LINK_PROBLEM, message=str(error.message), status=error.status,
                               event=event_of(**(request.view_args or {})))
        return body, error.status
    # The page an abort(status) shows, with the service's sentence where the page says one.
    return render_page("error.html", "_error.html", status=error.status,
                       error=default_exceptions[error.status](), message=str(error.message))


def render_service_error(error: ServiceError):
    """The one handler: the JSON problem for the API, a page for the rest."""
    if request.path.startswith(API_PREFIX):
        return service_error_response(error)
    response = current_app.make_response(_page(error))
    retry_after = getattr(error, "retry_after", None)
    if retry_after is not None:
        response.headers["Retry-After"] = str(retry_after)
    return response


def init_app(app) -> None:
    app.register_error_handler(ServiceError, render_service_error)
