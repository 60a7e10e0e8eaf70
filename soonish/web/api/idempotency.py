"""The ``Idempotency-Key`` header on every POST and PATCH of the API (see services/idempotency)."""
from flask import g, request
from flask_login import current_user

from ...services import ServiceError
from ...services import idempotency
from ..limits import api_caller
from .base import IDEMPOTENCY_KEY_PARAMETER, IDEMPOTENT_METHODS, service_error_response

HEADER = IDEMPOTENCY_KEY_PARAMETER["name"]
REPLAYED = "Idempotent-Replayed"


def _caller() -> str:
    # Keys belong to the account, whichever credential (token or API key) carries it.
    return f"user:{current_user.id}" if current_user.is_authenticated else api_caller()


def claim_key():
    """before_request of every API blueprint: replay, refuse, or let the request run."""
    key = request.headers.get(HEADER)
    if request.method not in IDEMPOTENT_METHODS or key is None:
        return None
    request_fingerprint = idempotency.fingerprint(request.method, request.path, request.get_data(cache=True))
    try:
        outcome = idempotency.begin(_caller(), key, request_fingerprint)
    except ServiceError as error:
        return service_error_response(error)
    if isinstance(outcome, idempotency.StoredAnswer):
        headers = {REPLAYED: "true"}
        if outcome.body:
            headers["Content-Type"] = "application/json"
        return outcome.body, outcome.status, headers
    g.idempotency_record = outcome
    return None


def store_answer(response):
    """after_request: keep the first answer for retries."""
    record = g.pop("idempotency_record", None)
    if record is not None:
        idempotency.finish(record, response.status_code, response.get_data(as_text=True))
    return response


def init_blueprint(blueprint) -> None:
    if not blueprint.idempotent:
        return
    blueprint.before_request(claim_key)
    blueprint.after_request(store_answer)
