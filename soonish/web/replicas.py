"""Which database a request reads (with SOONISH_DATABASE_REPLICA_URLS set; without, nothing here
runs and everything goes to the primary as before).

A GET or HEAD reads from a ready replica (services/replicas.py), unless
  - its view is marked ``@uses_primary`` (a link that confirms something when opened), or
  - the browser or client wrote within REPLICA_STICKY_SECONDS: every request that writes sets a
    signed cookie saying when, so whoever just edited an event sees the edit (read-your-writes),
    while everyone else may see it up to REPLICA_MAX_LAG_SECONDS later; or
  - no replica is ready (down, lagging, promoted): the primary serves, as without replicas.
Every other method uses the primary.

A request reading from a replica cannot write there (models/replicas.py). If its view tries, or a
query on the replica fails (it stopped, or cancelled a query for replay), nothing has been
written yet: the view runs again from the start on the primary, and the first time an endpoint
does this it is logged, so it can be marked ``@uses_primary``. Re-running rather than switching
to the primary mid-request keeps a request from deciding a write on what a replica said.

/metrics counts requests by the database that served them (soonish_database_reads_total)."""
import logging
from functools import wraps

from flask import Flask, Response, current_app, g, request
from itsdangerous import BadSignature, URLSafeTimedSerializer
from prometheus_client import Counter
from sqlalchemy.exc import DBAPIError

from soonish.models import db
from soonish.models.replicas import READ_FROM, WROTE, WriteOnReplica
from soonish.services import replicas as replica_service

log = logging.getLogger(__name__)

WROTE_COOKIE = "soonish_wrote"
READ_METHODS = frozenset({"GET", "HEAD"})
PRIMARY = "primary"
READ_YOUR_WRITES = "read_your_writes"
READS = Counter(
    "soonish_database_reads", "Requests by the database that served them (primary or a replica), and why.",
    ["target", "reason"],
)
_rerouted_endpoints: set[str] = set()  # logged once per endpoint and process


def uses_primary(view):
    """Mark a GET view that writes (a confirm link): it reads the primary from the start."""
    view.uses_primary = True
    return view


def init_app(app: Flask) -> None:
    replica_service.init_app(app)
    if not app.extensions["soonish.replicas"]:
        return
    app.before_request(choose_database)
    app.after_request(remember_writes)
    dispatch = app.dispatch_request

    @wraps(dispatch)
    def dispatch_request():
        try:
            return dispatch()
        except (WriteOnReplica, DBAPIError) as exc:
            if READ_FROM not in db.session.info:
                raise
            _read_again_from_primary(exc)
            return dispatch()

    app.dispatch_request = dispatch_request


def _signer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.secret_key, salt="soonish-read-your-writes")


def wrote_recently() -> bool:
    cookie = request.cookies.get(WROTE_COOKIE)
    if not cookie:
        return False
    try:
        _signer().loads(cookie, max_age=int(current_app.config["REPLICA_STICKY_SECONDS"]))
    except BadSignature:  # forged, or older than the window (SignatureExpired is one)
        return False
    return True


def reads_own_writes() -> bool:
    """Whether this request reads the primary because its browser or client just wrote (so it
    must not be answered from anything read before, or from a replica)."""
    return g.get("read_by", (PRIMARY, None))[1] == READ_YOUR_WRITES


def choose_database() -> None:
    view = current_app.view_functions.get(request.endpoint)
    if request.method not in READ_METHODS or getattr(view, "uses_primary", False):
        g.read_by = (PRIMARY, "writes")
    elif wrote_recently():
        g.read_by = (PRIMARY, READ_YOUR_WRITES)
    elif (replica := replica_service.ready_replica()) is None:
        g.read_by = (PRIMARY, "no_replica_ready")
    else:
        db.session.info[READ_FROM] = replica.engine
        g.read_by = (replica.name, "reads_only")
        g.replica = replica


def _read_again_from_primary(exc: Exception) -> None:
    db.session.rollback()
    db.session.info.pop(READ_FROM)
    replica = g.pop("replica")
    # 25006 read_only_sql_transaction: the standby itself refused a write our check let through
    # (raw SQL such as SELECT ... FOR UPDATE): the replica is fine.
    if isinstance(exc, WriteOnReplica) or getattr(getattr(exc, "orig", None), "sqlstate", None) == "25006":
        g.read_by = (PRIMARY, "wrote_on_read")
        if request.endpoint not in _rerouted_endpoints:
            _rerouted_endpoints.add(request.endpoint)
            log.warning("%s %s writes: ran again on the primary (mark its view @uses_primary)",
                        request.method, request.endpoint, extra={"replica": replica.name})
    else:
        replica.mark_down()
        g.read_by = (PRIMARY, "replica_failed")


def remember_writes(response: Response) -> Response:
    target, reason = g.get("read_by", (PRIMARY, "before_routing"))
    READS.labels(target=target, reason=reason).inc()
    if db.session.info.get(WROTE):
        sticky = int(current_app.config["REPLICA_STICKY_SECONDS"])
        response.set_cookie(
            WROTE_COOKIE, _signer().dumps(1), max_age=sticky, httponly=True,
            secure=bool(current_app.config["SESSION_COOKIE_SECURE"]), samesite="Lax",
        )
    return response
