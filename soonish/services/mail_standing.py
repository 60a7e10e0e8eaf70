"""The sender's standing, as organizers and operators see it: each organizer's bounce and
complaint rates over the recent window (their dashboard), and everyone's with the organizers
nearest a limit (/metrics)."""
import logging
import threading
import time
from dataclasses import dataclass

from sqlalchemy.exc import SQLAlchemyError

from soonish.domain import mail_reputation
from soonish.domain.mail_reputation import SenderStanding
from soonish.models import User, db, utcnow

log = logging.getLogger(__name__)

# /metrics names organizers by id, and only a bounded few: the ones nearest a limit, among those
# who mailed enough for a rate to mean something. A label per organizer would grow the series
# without bound, and an organizer with 12 mails and one bounce is noise, not a risk to the sender.
ORGANIZERS_IN_METRICS = 20
MAILS_FOR_A_RATE = 100
# A scrape every 15 s would count the window's deliveries each time: once a minute is plenty for
# rates over 30 days.
METRICS_CACHE_SECONDS = 60


def organizer_standing(actor: User) -> SenderStanding:
    """The actor's own standing: the mail of the events they organize."""
    return mail_reputation.standings(utcnow(), actor.id).get(actor.id, SenderStanding())


@dataclass(frozen=True)
class StandingMetrics:
    overall: SenderStanding
    # (organizer id, standing), the nearest a limit first; at most ORGANIZERS_IN_METRICS.
    organizers: list[tuple[int, SenderStanding]]


_cache_lock = threading.Lock()
_cached: tuple[float, StandingMetrics] | None = None


def standing_metrics() -> StandingMetrics | None:
    """None when the database does not answer: /metrics still serves the rest (it is how an
    outage is seen)."""
    global _cached
    with _cache_lock:
        if _cached is not None and time.monotonic() - _cached[0] < METRICS_CACHE_SECONDS:
            return _cached[1]
        try:
            by_organizer = mail_reputation.standings(utcnow())
        except SQLAlchemyError:
            db.session.rollback()
            log.warning("the sender's standing is left out of /metrics: the database did not answer", exc_info=True)
            return None
        ranked = sorted(((organizer, standing) for organizer, standing in by_organizer.items()
                         if standing.mailed >= MAILS_FOR_A_RATE),
                        key=lambda item: (-item[1].strain, item[0]))
        metrics = StandingMetrics(mail_reputation.overall(by_organizer.values()), ranked[:ORGANIZERS_IN_METRICS])
        _cached = (time.monotonic(), metrics)
        return metrics


def forget_cached_metrics() -> None:
    """For tests: the next scrape counts again."""
    global _cached
    with _cache_lock:
        _cached = None
