"""JSON logs with context and without secrets, Prometheus metrics, /healthz."""
import io
import json
import logging
import os
import signal
import subprocess
import sys
import urllib.request
import uuid
from datetime import datetime, timedelta, timezone

import pytest
from prometheus_client import REGISTRY

from soonish.observability import configure_logging, record_delivery, record_reminder_lateness, redact
from soonish.web import create_app

from .conftest import PASSWORD
from loopback.sinks import free_port, wait_until

JWT = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJlLXNpZ25hdHVyZQ"


@pytest.fixture
def log_lines():
    """Everything logged while the test runs, as the JSON objects our handler writes."""
    stream = io.StringIO()
    configure_logging("INFO", stream)
    yield lambda: [json.loads(line) for line in stream.getvalue().splitlines()]
    configure_logging("INFO")


def test_each_line_is_one_json_object_with_the_context_given(log_lines):
    logging.getLogger("soonish.test").warning("sent %s", "reminder", extra={"event_id": 7, "notification_id": 9})
    (line,) = [entry for entry in log_lines() if entry["logger"] == "soonish.test"]
    assert line["level"] == "WARNING" and line["message"] == "sent reminder"
    assert line["event_id"] == 7 and line["notification_id"] == 9
    assert datetime.fromisoformat(line["time"]).tzinfo is not None


def test_request_lines_carry_the_request_id_and_event_id(client, log_lines):
    response = client.get("/api/v1/events/123", headers={"X-Request-ID": "req-abc.1"})
    assert response.status_code == 404 and response.headers["X-Request-ID"] == "req-abc.1"
    (line,) = [entry for entry in log_lines() if entry["logger"] == "soonish.request"]
    assert line["request_id"] == "req-abc.1" and line["event_id"] == 123
    assert line["message"] == "GET /api/v1/events/<int:event_id> 404" and line["status"] == 404
    # An id we would not want in a log line is replaced by one of ours.
    replaced = client.get("/", headers={"X-Request-ID": '"}{ forged json'}).headers["X-Request-ID"]
    assert len(replaced) == 32 and replaced.isalnum()


@pytest.mark.parametrize(
    "secret, line",
    [
        ("s3cr3t-t0ken", "Authorization: Bearer s3cr3t-t0ken"),
        ("app-p4ss", "sending via mailto://me:app-p4ss@gmail.com?to=x@example.com"),
        ("hunter22", "json://admin:hunter22@hooks.example.com/notify"),
        ("hunter22", "login failed password=hunter22 for x"),
        ("hunter22", '{"email": "a@example.com", "password": "hunter22"}'),
        ("k-123", "api_key: k-123"),
        (JWT, f"token in a query ?t={JWT}"),
    ],
)
def test_redact_removes_secrets(secret, line):
    assert secret not in redact(line) and "[redacted]" in redact(line)


def test_secrets_never_reach_the_log_lines(log_lines):
    log = logging.getLogger("soonish.test")
    log.info("target %s", "pover://user:tok3n@pushover")
    log.info("request", extra={"authorization": f"Bearer {JWT}"})
    try:
        raise ValueError("could not reach slack://bot:xoxb-secret@workspace")
    except ValueError:
        log.exception("delivery failed")
    text = json.dumps(log_lines())
    for secret in ("tok3n", JWT, "xoxb-secret"):
        assert secret not in text
    assert "delivery failed" in text and "ValueError" in text


def test_signing_in_and_calling_the_api_log_no_password_or_token(client, make_user, log_lines):
    user = make_user()
    token = client.post("/api/v1/auth/token", json={"email": user.email, "password": PASSWORD}).get_json()["access_token"]
    client.get("/api/v1/events", headers={"Authorization": f"Bearer {token}"})
    client.get("/api/v1/events", headers={"Authorization": "Bearer forged-token-value"})
    lines = log_lines()
    assert len(lines) >= 3
    text = json.dumps(lines)
    assert PASSWORD not in text and token not in text and "forged-token-value" not in text


def test_activity_lines_carry_the_workflow_id(app, client, make_user, bearer, worker, log_lines):
    soon = datetime.now(timezone.utc) + timedelta(seconds=1)
    body = {"title": "Quick", "starts_at": soon.isoformat(), "ends_at": (soon + timedelta(seconds=1)).isoformat()}
    event_id = client.post("/api/v1/events", json=body, headers=bearer(make_user())).get_json()["id"]

    def completed() -> list:
        return [e for e in log_lines() if e["message"] == "event completed"]

    wait_until(completed, 20, 0.2, "the event to complete")
    assert completed()[0]["event_id"] == event_id
    assert completed()[0]["workflow_id"] == f"{app.config['TEMPORAL_ID_PREFIX']}event-{event_id}"


def sample(name: str, **labels) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_metrics_count_requests_deliveries_and_reminder_lateness(client):
    labels = {"endpoint": "events.home", "method": "GET", "status": "200"}
    requests_before = sample("soonish_http_request_duration_seconds_count", **labels)
    sent_before = sample("soonish_deliveries_total", status="sent", channel="email")
    other_before = sample("soonish_deliveries_total", status="failed", channel="other")
    late_before = sample("soonish_reminder_lateness_seconds_count")

    client.get("/")
    record_delivery("sent", "email")
    record_delivery("failed", "mailto://me:pw@gmail.com")  # a target, not a kind: never a label
    record_reminder_lateness(3.5)

    response = client.get("/metrics")
    assert response.status_code == 200 and response.content_type.startswith("text/plain")
    text = response.get_data(as_text=True)
    assert 'soonish_deliveries_total{channel="email",status="sent"}' in text and "pw@" not in text
    assert sample("soonish_http_request_duration_seconds_count", **labels) == requests_before + 1
    assert sample("soonish_deliveries_total", status="sent", channel="email") == sent_before + 1
    assert sample("soonish_deliveries_total", status="failed", channel="other") == other_before + 1
    assert sample("soonish_reminder_lateness_seconds_count") == late_before + 1


def test_metrics_answer_only_the_scrape_token_when_one_is_set(app, client):
    app.config["METRICS_TOKEN"] = "scrape-secret"
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "Basic c2NyYXBlLXNlY3JldA=="}):
        refused = client.get("/metrics", headers=headers)
        assert refused.status_code == 401 and refused.headers["WWW-Authenticate"].startswith("Bearer")
        assert "soonish_" not in refused.get_data(as_text=True)
    allowed = client.get("/metrics", headers={"Authorization": "Bearer scrape-secret"})
    assert allowed.status_code == 200 and "soonish_deliveries_total" in allowed.get_data(as_text=True)


RECORD_ONE_DELIVERY = "from soonish.observability import record_delivery; record_delivery('sent', 'ntfy')"
EXPOSE = "from soonish.observability import metrics_exposition; print(metrics_exposition()[0].decode())"


def test_metrics_add_up_across_processes_in_multiprocess_mode(tmp_path):
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}
    for _ in range(2):  # two gunicorn workers, say
        subprocess.run([sys.executable, "-c", RECORD_ONE_DELIVERY], env=env, check=True, timeout=60)
    exposition = subprocess.run([sys.executable, "-c", EXPOSE], env=env, check=True, timeout=60, capture_output=True, text=True)
    assert 'soonish_deliveries_total{channel="ntfy",status="sent"} 2.0' in exposition.stdout


def test_readyz_is_ok_when_database_and_temporal_answer(client):
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok", "checks": {"database": "ok", "temporal": "ok"}}


def test_readyz_names_an_unreachable_database(app, tmp_path):
    broken = create_app({**app.config, "DATABASE_URL": f"sqlite:///{tmp_path}/missing/dir/db.sqlite"})
    response = broken.test_client().get("/readyz")
    assert response.status_code == 503
    assert response.get_json()["failing"] == ["database"]


def fetch(url: str) -> str | None:
    """The page's text, or None while nothing answers there yet."""
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.read().decode()
    except OSError:
        return None


def scrape(port: int, timeout: float = 30) -> str:
    wait_until(lambda: fetch(f"http://127.0.0.1:{port}/metrics") is not None, timeout, 0.2,
               f"metrics served on port {port}")
    return fetch(f"http://127.0.0.1:{port}/metrics")


def test_the_worker_exports_temporal_and_soonish_metrics(database_url, temporal_env):
    sdk_port, app_port = free_port(), free_port()
    env = {
        **os.environ,
        "SOONISH_DATABASE_URL": database_url,
        "SOONISH_TEMPORAL_ADDRESS": temporal_env.client.service_client.config.target_host,
        "SOONISH_TEMPORAL_TASK_QUEUE": f"test-metrics-{uuid.uuid4().hex[:8]}",
        "SOONISH_WORKER_METRICS_BIND": f"127.0.0.1:{sdk_port}",
        "SOONISH_WORKER_APP_METRICS_BIND": f"127.0.0.1:{app_port}",
    }
    worker = subprocess.Popen([sys.executable, "-m", "soonish", "worker"], env=env)
    try:
        assert "# TYPE soonish_deliveries_total counter" in scrape(app_port)
        wait_until(lambda: "temporal_worker_start" in scrape(sdk_port), 30, 0.3, "the SDK's worker metrics")
        assert "temporal_request" in scrape(sdk_port)
    finally:
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(30) == 0


def test_a_real_broadcast_moves_the_delivery_counters_on_metrics(client, make_user, bearer, worker, http_sink):
    """The worker counts each delivery as it records it (here it shares the app's process)."""
    from .api_helpers import announce, create_event, follow_by_webhook

    def sent_webhooks():
        return sample("soonish_deliveries_total", status="sent", channel="webhook")

    organizer = bearer(make_user("host@example.com"))
    event = create_event(client, organizer)
    at_start = sent_webhooks()
    for n in range(3):
        reader = bearer(make_user(f"r{n}@example.com"))
        follow_by_webhook(client, reader, event["id"], http_sink.url(f"/r{n}"))
    # A welcome is counted when its send is recorded, just after the sink has it: wait for the
    # three welcomes on the counter, not only at the sink, before taking the count.
    wait_until(lambda: len(http_sink.delivered()) == 3 and sent_webhooks() == at_start + 3, message="the welcomes")
    before = sent_webhooks()
    announce(client, organizer, event["id"], "Counted")
    wait_until(lambda: sent_webhooks() == before + 3, message="three more sent webhooks on the counter")
    assert 'soonish_deliveries_total{channel="webhook",status="sent"}' in client.get("/metrics").get_data(as_text=True)


def test_the_web_server_logs_only_json_lines_and_stops_cleanly(database_url, tmp_path):
    port = free_port()
    env = {**os.environ, "SOONISH_DATABASE_URL": database_url, "SOONISH_DEV": "1", "SOONISH_LOG_LEVEL": "INFO"}
    stderr_path = tmp_path / "web.log"
    with open(stderr_path, "wb") as stderr:
        web = subprocess.Popen([sys.executable, "-m", "soonish", "web", "--bind", f"127.0.0.1:{port}", "--workers", "1"],
                               env=env, stderr=stderr)
    try:
        def serving() -> bool:
            assert web.poll() is None, stderr_path.read_text()
            return fetch(f"http://127.0.0.1:{port}/login") is not None  # a 200: urlopen raises for others

        wait_until(serving, 30, 0.2, "the web server to serve /login")
    finally:
        web.send_signal(signal.SIGTERM)
        assert web.wait(30) == 0
    lines = [json.loads(line) for line in stderr_path.read_text().splitlines()]
    messages = [(line["logger"], line["message"]) for line in lines]
    assert ("gunicorn.error", f"Listening at: http://127.0.0.1:{port} ({web.pid})") in messages
    assert any(logger == "gunicorn.error" and message.startswith("Booting worker") for logger, message in messages)
    assert any(logger == "soonish.request" and message == "GET /login 200" for logger, message in messages)
