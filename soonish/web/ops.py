"""What operators see: request ids, a JSON line and a latency sample per request, /metrics (with
the sender's standing, read from the database), /healthz (liveness) and /readyz (readiness)."""
import hmac
import logging
import re
import time
import uuid

from flask import Blueprint, Flask, Response, current_app, g, jsonify, request

from soonish.observability import metrics_exposition, record_request, standing_exposition
from soonish.services import health, mail_standing
from soonish.services.replicas import replica_states
from soonish.web.auth import bearer_token

log = logging.getLogger("soonish.request")
bp = Blueprint("ops", __name__)

REQUEST_ID_HEADER = "X-Request-ID"
# A caller's id is kept (so one id follows a request through proxies) only when it is harmless.
_CALLER_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


def init_app(app: Flask) -> None:
    app.before_request(start_request)
    app.after_request(finish_request)
    app.register_blueprint(bp)


def start_request() -> None:
    given = request.headers.get(REQUEST_ID_HEADER, "")
    g.request_id = given if _CALLER_REQUEST_ID.match(given) else uuid.uuid4().hex
    g.request_started = time.perf_counter()


def finish_request(response: Response) -> Response:
    seconds = time.perf_counter() - g.get("request_started", time.perf_counter())
    endpoint = request.endpoint or "unmatched"
    record_request(endpoint, request.method, response.status_code, seconds)
    response.headers[REQUEST_ID_HEADER] = g.get("request_id", "")
    # The route's pattern, not the path: paths may carry tokens (feeds, unsubscribe links).
    route = request.url_rule.rule if request.url_rule else "unmatched"
    log.info(
        "%s %s %s", request.method, route, response.status_code,
        extra={"endpoint": endpoint, "status": response.status_code, "duration_ms": round(seconds * 1000, 1)},
    )
    return response


@bp.get("/metrics")
def metrics():
    expected = current_app.config["METRICS_TOKEN"]
    if expected and not hmac.compare_digest((bearer_token() or "").encode(), expected.encode()):
        return Response("Scraping /metrics needs the SOONISH_METRICS_TOKEN bearer token.\n", 401,
                        {"WWW-Authenticate": 'Bearer realm="metrics"'}, content_type="text/plain")
    body, content_type = metrics_exposition()
    return Response(body + _standing(), content_type=content_type)


def _standing() -> bytes:
    standing = mail_standing.standing_metrics()
    if standing is None:
        return b""
    overall = standing.overall
    return standing_exposition(
        (overall.mailed, overall.bounce_rate, overall.complaint_rate),
        [(str(organizer), s.mailed, s.bounce_rate, s.complaint_rate) for organizer, s in standing.organizers],
    )


@bp.get("/healthz")
def healthz():
    """Liveness: this process answers. Nothing else is asked, so a database or Temporal outage
    never gets healthy processes restarted."""
    return jsonify({"status": "ok"}), 200, {"Cache-Control": "no-store"}


@bp.get("/readyz")
def readyz():
    """Readiness: the database and Temporal answer (each state cached a few seconds per process);
    and which read replicas serve reads now, each with its state and lag."""
    checks = health.check_dependencies()
    failing = sorted(name for name, state in checks.items() if state != "ok")
    body = {"status": "unavailable" if failing else "ok", "checks": checks}
    if failing:
        body["failing"] = failing
    if replicas := replica_states():
        # Informative: without a replica the primary serves the reads, so this process is ready.
        body["replicas"] = replicas
    return jsonify(body), 503 if failing else 200, {"Cache-Control": "no-store"}
