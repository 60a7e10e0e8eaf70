"""Logs and metrics, set up the same way in every Soonish process (web and worker).

Logs: one JSON object per line on stderr, with ``time``, ``level``, ``logger``, ``message``, the
context that applies (``request_id``, ``event_id``, ``workflow_id``, ``notification_id``: given
with ``extra=`` or known from the current request or Temporal activity) and any other ``extra=``
fields. Every line passes through ``redact`` first: bearer tokens, JWTs, passwords and the
credentials in URLs (``mailto://user:app-password@gmail.com``) never reach the log.

Metrics: prometheus_client. With ``PROMETHEUS_MULTIPROC_DIR`` set (gunicorn runs several
processes) each process writes its samples there and an exposition adds them all up.
"""
import json
import logging
import os
import re
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import TextIO

from flask import g, has_request_context, request
from gunicorn.glogging import Logger as GunicornLogger
from prometheus_client.core import GaugeMetricFamily
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    Metric,
    generate_latest,
    multiprocess,
    start_http_server,
)
from temporalio import activity

HANDLER_NAME = "soonish-json"
# Attributes every LogRecord has; anything else on a record came in through extra=.
_RECORD_ATTRIBUTES = frozenset(vars(logging.makeLogRecord({}))) | {"message", "asctime", "taskName"}

REDACTED = "[redacted]"
_SECRET_KEY_NAMES = r"[\w-]*(?:password|passwd|secret|token|api[_-]?key)"
_SECRETS = [
    # Authorization: Bearer <token>
    (re.compile(r"(?i)\b(bearer\s+)[\w.~+/=-]+"), r"\1" + REDACTED),
    # Credentials in any URL, e.g. Apprise's mailto://user:pass@host or json://user:pass@host.
    (re.compile(r"\b([a-z][a-z0-9+.-]*://)[^/\s@]+@", re.IGNORECASE), r"\1" + REDACTED + "@"),
    # A JWT wherever it appears.
    (re.compile(r"\beyJ[\w-]+\.[\w-]+\.[\w-]*"), REDACTED),
    # password=..., "api_key": "...", access_token: ...
    (re.compile(rf"""(?i)(["']?\b{_SECRET_KEY_NAMES}["']?\s*[:=]\s*)("[^"]*"|'[^']*'|[^\s,;&}}]+)"""), r"\1" + REDACTED),
]


def redact(text: str) -> str:
    for pattern, replacement in _SECRETS:
        text = pattern.sub(replacement, text)
    return text


def _extra_fields(record: logging.LogRecord) -> dict:
    return {k: v for k, v in vars(record).items() if k not in _RECORD_ATTRIBUTES}


class AddContext(logging.Filter):
    """Fills the context fields a line did not give from the request or activity it runs in."""

    def filter(self, record: logging.LogRecord) -> bool:
        for name, value in _ambient_context(record).items():
            if getattr(record, name, None) is None and value is not None:
                setattr(record, name, value)
        return True


def _ambient_context(record: logging.LogRecord) -> dict:
    context: dict = {}
    if has_request_context():
        context["request_id"] = g.get("request_id")
        context["event_id"] = (request.view_args or {}).get("event_id")
    if activity.in_activity():
        context["workflow_id"] = activity.info().workflow_id
    # temporalio's workflow.logger and activity.logger attach their info as a dict.
    for temporal_info in (getattr(record, "temporal_workflow", None), getattr(record, "temporal_activity", None)):
        if isinstance(temporal_info, dict) and temporal_info.get("workflow_id"):
            context["workflow_id"] = temporal_info["workflow_id"]
    return context


class RedactSecrets(logging.Filter):
    """Rewrites a record's message, traceback and string extras through ``redact``."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = redact(record.getMessage())
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        for name, value in _extra_fields(record).items():
            if isinstance(value, str):
                setattr(record, name, redact(value))
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, timezone.utc).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        entry.update({k: v for k, v in _extra_fields(record).items() if v is not None})
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            entry["exception"] = record.exc_text
        return json.dumps(entry, default=str)


def configure_logging(level: str = "INFO", stream: TextIO | None = None) -> logging.Handler:
    """Send every log line, as redacted JSON, to ``stream`` (stderr). Safe to call again."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.set_name(HANDLER_NAME)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(AddContext())
    handler.addFilter(RedactSecrets())
    root = logging.getLogger()
    for previous in [h for h in root.handlers if h.get_name() == HANDLER_NAME]:
        root.removeHandler(previous)
    root.addHandler(handler)
    root.setLevel(level)
    # Alembic announces each of its plugins at INFO whenever Flask-Migrate loads it: noise.
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)
    return handler


class GunicornJsonLogger(GunicornLogger):
    """Gunicorn's own lines ("Booting worker", "Worker exiting", ...) as our JSON lines: its
    error log hands them to the root logger instead of printing plain text. For gunicorn run
    by hand: ``--logger-class soonish.observability.GunicornJsonLogger``."""

    def setup(self, cfg) -> None:
        super().setup(cfg)
        self.error_log.handlers.clear()
        self.error_log.propagate = True
        if not any(handler.get_name() == HANDLER_NAME for handler in logging.getLogger().handlers):
            # A master that loads the app only in its workers (plain gunicorn, no --preload).
            configure_logging(os.environ.get("SOONISH_LOG_LEVEL", "INFO"))


# --- Metrics -------------------------------------------------------------------------------

REQUEST_LATENCY = Histogram(
    "soonish_http_request_duration_seconds", "Time to answer an HTTP request.",
    ["endpoint", "method", "status"],
)
DELIVERIES = Counter(
    "soonish_deliveries", "Messages handed to a channel, by outcome (sent, failed, ...).",
    ["status", "channel"],
)
MAIL_BOUNCES = Counter(
    "soonish_mail_bounces", "Bounces and complaints heard, by kind (hard, soft, complaint) and where they came "
    "in (mail-in, smtp, ses, postmark, mailgun); against soonish_deliveries{channel=\"email\"}: the sender's rates.",
    ["kind", "source"],
)
MAIL_SUPPRESSED = Counter("soonish_mail_suppressed", "Addresses put on the suppression list.")
REMINDER_LATENESS = Histogram(
    "soonish_reminder_lateness_seconds", "How long after its due time a reminder went out.",
    buckets=(0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600, 1800, 3600),
)
# A channel label is a kind (email, slack, webhook), never a target: URLs hold secrets.
_CHANNEL_KIND = re.compile(r"^[a-z0-9_+-]{1,32}$")


def record_request(endpoint: str, method: str, status: int, seconds: float) -> None:
    REQUEST_LATENCY.labels(endpoint=endpoint, method=method, status=str(status)).observe(seconds)


def record_delivery(status: str, channel: str) -> None:
    """Count one delivery attempt; ``channel`` is the kind of target (Apprise scheme or fast path)."""
    channel = channel.lower()
    DELIVERIES.labels(status=status, channel=channel if _CHANNEL_KIND.match(channel) else "other").inc()


def record_bounce(kind: str, source: str, suppressed: bool) -> None:
    MAIL_BOUNCES.labels(kind=kind, source=source).inc()
    if suppressed:
        MAIL_SUPPRESSED.inc()


def record_reminder_lateness(seconds: float) -> None:
    REMINDER_LATENESS.observe(max(0.0, seconds))


def clear_multiprocess_metrics() -> None:
    """Drop the samples an earlier run left in PROMETHEUS_MULTIPROC_DIR (call before forking)."""
    directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if directory:
        for stale in Path(directory).glob("*.db"):
            stale.unlink()


def forget_process_metrics(pid: int) -> None:
    """A web process exited: stop counting its live-only samples (gunicorn's child_exit)."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        multiprocess.mark_process_dead(pid)


def metrics_registry() -> CollectorRegistry:
    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        return REGISTRY
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)
    return registry


def metrics_exposition() -> tuple[bytes, str]:
    """The text a Prometheus scrape gets, and its content type."""
    return generate_latest(metrics_registry()), CONTENT_TYPE_LATEST


def standing_exposition(overall: tuple[int, float, float],
                        organizers: list[tuple[str, int, float, float]]) -> bytes:
    """The sender's standing (mails, hard-bounce rate, complaint rate over the recent window) as
    gauges: everyone's, and per organizer for the few given (``organizers``: id, mails, rates).
    Read from the database at scrape time, so any process answers the same."""
    def families() -> list[Metric]:
        made = []
        for name, what, index in (("mails", "Mails sent or failed", 0), ("bounce_rate", "Hard bounces per mail", 1),
                                  ("complaint_rate", "Spam complaints per mail", 2)):
            made.append(GaugeMetricFamily(f"soonish_sender_{name}", f"{what}, all organizers, last 30 days.",
                                          value=overall[index]))
            per = GaugeMetricFamily(f"soonish_organizer_{name}", f"{what}, last 30 days, for the few organizers "
                                    "nearest a limit (services.mail_standing).", labels=["organizer_id"])
            for organizer in organizers:
                per.add_metric([organizer[0]], organizer[index + 1])
            made.append(per)
        return made

    class Standing:
        def collect(self):
            return families()

    registry = CollectorRegistry(auto_describe=False)
    registry.register(Standing())
    return generate_latest(registry)


def serve_metrics(bind: str) -> None:
    """Serve this process's metrics over HTTP at ``host:port`` (a worker has no web app)."""
    host, _, port = bind.rpartition(":")
    start_http_server(int(port), addr=host or "0.0.0.0", registry=metrics_registry())
