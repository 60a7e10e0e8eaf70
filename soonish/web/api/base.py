"""The JSON API's one error shape: {"error": {"code", "message", "fields"}}, in answers and docs."""
from http import HTTPStatus

from flask import request
from flask_smorest import Api
from flask_smorest import Blueprint as SmorestBlueprint
from marshmallow import RAISE, Schema, fields
from werkzeug.exceptions import HTTPException

from soonish.services import ServiceError
from soonish.web.htmx import render_page

API_PREFIX = "/api/"


class ErrorDetail(Schema):
    code = fields.String(
        required=True,
        metadata={"description": "Machine-readable: not_found, validation_error, unauthorized, rate_limited, ..."},
    )
    message = fields.String(required=True, metadata={"description": "For people."})
    field_errors = fields.Dict(
        data_key="fields", keys=fields.String(), values=fields.List(fields.String()), required=True,
        metadata={"description": "What is wrong with each request field, when fields are at fault."},
    )


class ErrorSchema(Schema):
    error = fields.Nested(ErrorDetail, required=True)


RETRY_AFTER = {"Retry-After": {"description": "Seconds to wait before trying again.", "schema": {"type": "integer"}}}


IDEMPOTENCY_KEY_PARAMETER = {
    "name": "Idempotency-Key", "in": "header", "required": False,
    "description": "Any unique string (a UUID). A retry with the same key and body within 24 hours gets the first "
    "answer back (with the header `Idempotent-Replayed: true`, and the first answer's `ETag`) and nothing is done "
    "again; the same key with another body is refused with 422; a retry while the first request still runs gets 409. "
    "Only answers of requests that ran (2xx) are kept: after a 4xx or 5xx the key is free and a corrected retry runs. "
    "A replay needs what the request needs (a key without the scope gets the same 403 as without this header). "
    "Secrets an answer shows (a new API key, a signing secret, a token, a connect code) are shown once: a replay has "
    "them as null and names them in the header `Idempotent-Redacted`. Keys of an account go when it is deleted.",
    "schema": {"type": "string", "minLength": 1, "maxLength": 255},
}
IDEMPOTENT_METHODS = {"POST", "PATCH"}


class ApiBlueprint(SmorestBlueprint):
    def __init__(self, *args, idempotent: bool = True, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        # Off for sign-up and tokens: retrying those is harmless, and their answers (tokens)
        # must not be kept.
        self.idempotent = idempotent

    def route(self, rule, *, parameters=None, tags=None, access=None, body=None, query=None, status=200,
              response=None, headers=None, errors=(), **options):
        """One operation in one decorator: who may call it (``access``, from access.py, which
        documents the 401 and 403 it answers), the JSON ``body`` and ``query`` schemas it reads,
        its answer (``status``, ``response`` schema, ``headers``) and the error answers it gives
        besides (``errors``; the 429 every call may get is added). Every POST and PATCH takes an
        Idempotency-Key (see idempotency.py): documented here, with the 409 and 422 it may
        answer, so no view can forget it."""
        register = super().route(rule, parameters=parameters, tags=tags, **options)
        idempotent = self.idempotent and IDEMPOTENT_METHODS & set(options.get("methods", ()))

        def decorate(view):
            # Innermost first: the access check wraps them all, so it runs before the body is read.
            view = self.errors(*getattr(access, "refusals", ()), *errors)(view)
            view = self.response(status, response, headers=headers)(view)
            if body is not None:
                view = self.arguments(body)(view)
            if query is not None:
                # A parameter it doesn't take is refused by name, as a body's unknown field is: a
                # typo (`limt=5`) silently ignored would answer something the caller didn't ask.
                view = self.arguments(query, location="query", unknown=RAISE)(view)
            if access is not None:
                view = access(view)
            if not idempotent:
                return register(view)
            view = self.alt_response(409, response="CONFLICT")(view)
            view = self.alt_response(422, response="UNPROCESSABLE_ENTITY")(view)
            # Added to the view's own header parameters (doc() would replace the list).
            own = getattr(view, "_apidoc", {}).get("manual_doc", {}).get("parameters", [])
            return register(self.doc(parameters=[*own, IDEMPOTENCY_KEY_PARAMETER])(view))

        return decorate

    def arguments(self, schema, *args, **kwargs):
        """Parse with one schema instance per view: given a class, webargs would build a new
        instance for every request (a tenth of a millisecond of a follow's few)."""
        return super().arguments(schema() if isinstance(schema, type) else schema, *args, **kwargs)

    def errors(self, *statuses: int):
        """Document the error answers a view gives (and the 429 every API call may get)."""

        def decorate(view):
            for status in statuses:
                # flask-smorest registers a response per status, in the Api's ERROR_SCHEMA.
                view = self.alt_response(status, response=HTTPStatus(status).name)(view)
            return self.alt_response(
                429, schema=ErrorSchema, headers=RETRY_AFTER, description="Too many requests; wait Retry-After seconds."
            )(view)

        return decorate


def error_body(code: str, message: str, fields: dict | None = None) -> dict:
    return {"error": {"code": code, "message": message, "fields": fields or {}}}


def _fields_from_webargs(messages) -> dict[str, list[str]]:
    """webargs nests errors by location and by item ({"json": {"selectors": {0: {"tag": [...]}}}});
    callers get flat field paths: {"selectors.0.tag": [...]}."""
    fields: dict[str, list[str]] = {}

    def flatten(path: str, errors) -> None:
        if isinstance(errors, dict):
            for key, nested in errors.items():
                flatten(f"{path}.{key}" if path else str(key), nested)
        elif isinstance(errors, list) and all(isinstance(e, str) for e in errors):
            fields[path] = errors
        elif isinstance(errors, list):
            for nested in errors:
                flatten(path, nested)
        else:
            fields.setdefault(path, []).append(str(errors))

    if isinstance(messages, dict):
        for location, errors in messages.items():
            # Field errors of the body or query go by field name; anything else by location.
            flatten("" if isinstance(errors, dict) else location, errors)
    return fields


class SoonishApi(Api):
    """flask-smorest handles every HTTPException app-wide; pages keep HTML error pages."""

    ERROR_SCHEMA = ErrorSchema

    def handle_http_exception(self, error: HTTPException):
        data = getattr(error, "data", None) or {}
        if not request.path.startswith(API_PREFIX):
            # What the app said (abort(..., message=...)); the page falls back to werkzeug's sentence.
            return render_page("error.html", "_error.html", status=error.code, error=error,
                               message=data.get("message"))
        fields = _fields_from_webargs(data.get("messages") or data.get("errors") or {})
        message = data.get("message") or error.description or error.name
        if fields and not data.get("message"):
            message = "The request has invalid fields."
        code = error.name.lower().replace(" ", "_")
        # webargs reports a body that is not JSON as a field error on "json".
        if "json" in fields and error.code == 400 and not data.get("message"):
            message = "The request body is not valid JSON."
        # werkzeug's own headers (Allow on a 405, WWW-Authenticate on a 401) belong to the answer;
        # its Content-Type does not: the body is JSON.
        headers = {name: value for name, value in error.get_headers() if name.lower() != "content-type"}
        headers.update(data.get("headers") or {})
        return error_body(code, message, fields), error.code, headers


def service_error_response(error: ServiceError):
    retry_after = getattr(error, "retry_after", None)
    headers = {"Retry-After": str(retry_after)} if retry_after is not None else {}
    # The sentences in the request's language (services mark them lazily, _l); the codes as they are.
    fields = {name: [str(m) for m in messages] for name, messages in error.fields.items()}
    return error_body(error.code, str(error.message), fields), error.status, headers
