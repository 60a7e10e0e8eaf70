"""Is this process able to serve? Checks the database and the Temporal server."""
import logging

from sqlalchemy import text

from ..models import db
from .temporal import gateway

log = logging.getLogger(__name__)

TEMPORAL_TIMEOUT_SECONDS = 2


def _check_database() -> None:
    try:
        db.session.execute(text("SELECT 1"))
    finally:
        db.session.rollback()


def _check_temporal() -> None:
    gateway().ping(TEMPORAL_TIMEOUT_SECONDS)


CHECKS = {"database": _check_database, "temporal": _check_temporal}


def check_dependencies() -> dict[str, str]:
    """Each dependency's state: "ok" or "failing" (the reason goes to the log, not to callers)."""
    states = {}
    for name, check in CHECKS.items():
        try:
            check()
        except Exception:  # any failure at all means unhealthy; a probe must not crash
            log.warning("health check failed: %s", name, exc_info=True)
            states[name] = "failing"
        else:
            states[name] = "ok"
    return states
