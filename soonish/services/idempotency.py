"""Idempotent API writes (Stripe semantics) for requests carrying an ``Idempotency-Key``.

The first request with a key stores its answer for 24 hours per (caller, key); a retry with the
same key and the same request gets that answer back without anything being done again; the
same key on a different request is refused (422); a retry while the first still runs is told
to wait (409). Only answers of requests that ran are kept: a refused request (4xx) or a failed
one (5xx) changed nothing, so its key is released and a corrected retry runs. Records live in
the database, so every web process on every host sees them, and the unique (caller, key)
constraint decides which of two racing requests runs. They go after 24 hours (the retention
schedule makes sure) and when their account is erased.
"""
import hashlib
import json
from dataclasses import dataclass, field
from datetime import timedelta

from sqlalchemy import delete, select, update

from soonish.models import IdempotencyRecord, UniqueKeyTaken, db, utcnow
from soonish.domain.retention import expire_idempotency_records
from soonish.services.errors import Conflict, ValidationFailed
from soonish.i18n import _l

# A first request still "running" after this long died with its process: a retry takes over.
ABANDONED_AFTER = timedelta(minutes=5)
MAX_KEY_LENGTH = 255


@dataclass(frozen=True)
class StoredAnswer:
    status: int
    body: str
    headers: dict[str, str] = field(default_factory=dict)


def account_caller(user_id: int) -> str:
    """Whose keys they are: an account's, whichever credential (session, token, API key) it used."""
    return f"user:{user_id}"


def took_effect(status: int) -> bool:
    """An answer worth replaying: the request ran (2xx, or a form's redirect after it ran).
    Refusals (validation, 401/403, 404, 409, 412, 429) and 5xx changed nothing."""
    return 200 <= status < 400


def fingerprint(method: str, path: str, body: bytes) -> str:
    """What makes two requests "the same": method, path and body (JSON compared by value)."""
    try:
        canonical = json.dumps(json.loads(body), sort_keys=True, separators=(",", ":")).encode() if body else b""
    except (ValueError, UnicodeDecodeError):
        canonical = body
    return hashlib.sha256(method.encode() + b" " + path.encode() + b"\n" + canonical).hexdigest()


def begin(caller: str, key: str, request_fingerprint: str) -> StoredAnswer | IdempotencyRecord:
    """Claim ``key`` for this request: the new in-flight record to finish, or the stored answer
    of the first request to replay. Raises Conflict (409) while the first one still runs and
    ValidationFailed (422) when the key was used for a different request."""
    if not key or len(key) > MAX_KEY_LENGTH:
        raise ValidationFailed.field("Idempotency-Key", _l("Use 1 to %(count)s characters, e.g. a UUID.", count=MAX_KEY_LENGTH))
    expire_idempotency_records(utcnow())
    record = IdempotencyRecord(caller=caller, key=key, fingerprint=request_fingerprint)
    db.session.add(record)
    try:
        db.session.commit()
        return record
    except UniqueKeyTaken:
        db.session.rollback()
    first = db.session.scalar(
        select(IdempotencyRecord).where(IdempotencyRecord.caller == caller, IdempotencyRecord.key == key)
    )
    if first is None:  # finished and dropped (a failed first attempt) between the two statements
        return begin(caller, key, request_fingerprint)
    if first.fingerprint != request_fingerprint:
        raise ValidationFailed.field(
            "Idempotency-Key", _l("This key was already used for a different request; use a new key for a new request.")
        )
    if first.status is None and first.created_at < utcnow() - ABANDONED_AFTER:
        db.session.delete(first)
        db.session.commit()
        return begin(caller, key, request_fingerprint)
    if first.status is None:
        raise Conflict(_l("A request with this Idempotency-Key is still being processed; retry shortly."))
    return StoredAnswer(first.status, first.response_body or "", first.response_headers or {})


def finish(record: IdempotencyRecord, status: int, body: str, headers: dict[str, str] | None = None) -> None:
    """Store the answer to replay (``body`` and ``headers`` without secrets: the caller leaves
    them out). An answer of a request that did not take effect is not stored: the key is
    released so a retry, corrected or not, runs for real."""
    db.session.rollback()  # the view committed its work; anything left over is discarded anyway
    if took_effect(status):
        db.session.execute(update(IdempotencyRecord).where(IdempotencyRecord.id == record.id)
                           .values(status=status, response_body=body, response_headers=headers))
    else:
        db.session.execute(delete(IdempotencyRecord).where(IdempotencyRecord.id == record.id))
    db.session.commit()


def forget_account(user_id: int) -> None:
    """Drop every answer kept for the account (at its erasure): they hold what it sent and got.
    Part of the erasure's transaction: its caller commits."""
    db.session.execute(delete(IdempotencyRecord).where(IdempotencyRecord.caller == account_caller(user_id)))
