"""The ``Idempotency-Key`` header on every POST and PATCH of the API (see services/idempotency).

A replay passes the same authorization as the request it repeats: a credential that could not
have made the first request (an ``events:read`` key replaying a key creation) gets the 401 or
403 it gets without the header, before any key is looked up. And no secret is ever kept: a
field declared ``ShownOnce`` (a new API key, a signing secret, a token) is stored as null, and
the replay names the fields it left out in ``Idempotent-Redacted``.
"""
import json

from flask import current_app, g, request
from flask_login import current_user
from marshmallow import fields

from soonish.services import idempotency
from soonish.web.limits import api_caller
from soonish.web.api.base import IDEMPOTENCY_KEY_PARAMETER, IDEMPOTENT_METHODS

HEADER = IDEMPOTENCY_KEY_PARAMETER["name"]
REPLAYED = "Idempotent-Replayed"
REDACTED = "Idempotent-Redacted"
# What a replay repeats of the first answer besides its body: its type and the event version's
# ETag. Never cookies or anything else a secret may ride in.
KEPT_HEADERS = ("Content-Type", "ETag")


class ShownOnce(fields.String):
    """A secret an answer shows once: the answer kept for a replay has it as null."""

    def __init__(self, *, metadata: dict | None = None, **kwargs) -> None:
        metadata = dict(metadata or {})
        metadata["description"] = (metadata.get("description", "") + f" Shown once: null in a replayed answer "
                                   f"(`{REPLAYED}: true`), which names it in `{REDACTED}`.").strip()
        super().__init__(allow_none=True, metadata=metadata, **kwargs)

    def _serialize(self, value, attr, obj, **kwargs):
        # The answer being built shows this secret: store_answer keeps it out of the record.
        g.setdefault("shown_once", set()).add(self.data_key or self.name)
        return super()._serialize(value, attr, obj, **kwargs)


def _caller() -> str:
    # Keys belong to the account, whichever credential (token or API key) carries it.
    return idempotency.account_caller(current_user.id) if current_user.is_authenticated else api_caller()


def claim_key():
    """before_request of every API blueprint: replay, refuse, or let the request run."""
    key = request.headers.get(HEADER)
    if request.method not in IDEMPOTENT_METHODS or key is None:
        return None
    # The view's own access rule (access.py) first: a refused request claims and replays nothing.
    refusal = getattr(current_app.view_functions.get(request.endpoint), "refusal", None)
    refused = refusal() if refusal is not None else None
    if refused is not None:
        return refused
    request_fingerprint = idempotency.fingerprint(request.method, request.path, request.get_data(cache=True))
    # A key in use or reused for another request raises: answered like any refusal.
    outcome = idempotency.begin(_caller(), key, request_fingerprint)
    if isinstance(outcome, idempotency.StoredAnswer):
        return outcome.body, outcome.status, {**outcome.headers, REPLAYED: "true"}
    g.idempotency_record = outcome
    return None


def _without(value, secrets: set[str]):
    """``value`` (parsed JSON) with every field named in ``secrets`` set to null."""
    if isinstance(value, dict):
        return {name: None if name in secrets else _without(item, secrets) for name, item in value.items()}
    if isinstance(value, list):
        return [_without(item, secrets) for item in value]
    return value


def store_answer(response):
    """after_request: keep the first answer for retries, without the secrets it shows."""
    record = g.pop("idempotency_record", None)
    if record is None:
        return response
    body = response.get_data(as_text=True)
    headers = {name: response.headers[name] for name in KEPT_HEADERS if name in response.headers}
    secrets = g.pop("shown_once", set())
    if secrets:
        body = json.dumps(_without(json.loads(body), secrets), separators=(",", ":"))
        headers[REDACTED] = ", ".join(sorted(secrets))
    idempotency.finish(record, response.status_code, body, headers)
    return response


def init_blueprint(blueprint) -> None:
    if not blueprint.idempotent:
        return
    blueprint.before_request(claim_key)
    blueprint.after_request(store_answer)
