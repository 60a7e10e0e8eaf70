"""The JSON API's one error shape: {"error": {"code", "message", "fields"}}."""
from flask import request
from flask_smorest import Api
from werkzeug.exceptions import HTTPException

from ...services import ServiceError
from ..htmx import render_page

API_PREFIX = "/api/"


def error_body(code: str, message: str, fields: dict | None = None) -> dict:
    return {"error": {"code": code, "message": message, "fields": fields or {}}}


def _fields_from_webargs(messages) -> dict:
    """webargs nests errors by location ({"json": {"title": [...]}}); callers want the fields."""
    fields: dict = {}
    if not isinstance(messages, dict):
        return fields
    for location, errors in messages.items():
        if isinstance(errors, dict):
            fields.update(errors)
        else:
            fields[location] = errors if isinstance(errors, list) else [str(errors)]
    return fields


class SoonishApi(Api):
    """flask-smorest handles every HTTPException app-wide; pages keep HTML error pages."""

    def handle_http_exception(self, error: HTTPException):
        if not request.path.startswith(API_PREFIX):
            return render_page("error.html", "_error.html", status=error.code, error=error)
        data = getattr(error, "data", None) or {}
        fields = _fields_from_webargs(data.get("messages") or data.get("errors") or {})
        message = data.get("message") or error.description or error.name
        if fields and not data.get("message"):
            message = "The request has invalid fields."
        code = error.name.lower().replace(" ", "_")
        # webargs reports a body that is not JSON as a field error on "json".
        if "json" in fields and error.code == 400:
            message = "The request body is not valid JSON."
        return error_body(code, message, fields), error.code, data.get("headers", {})


def service_error_response(error: ServiceError):
    return error_body(error.code, error.message, error.fields), error.status
