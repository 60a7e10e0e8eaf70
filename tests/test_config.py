"""Settings from the environment arrive as the operator wrote them, and .env.example lists them."""
import re
from pathlib import Path

from soonish.config import Config
from soonish.web import create_app

ROOT = Path(__file__).resolve().parents[1]


def test_text_settings_keep_the_environments_text(monkeypatch, tmp_path):
    monkeypatch.setenv("SOONISH_SMTP_PASSWORD", "12345678")  # JSON would make it a number
    monkeypatch.setenv("SOONISH_METRICS_TOKEN", "1e3")  # ...and this one 1000.0
    monkeypatch.setenv("SOONISH_SMTP_USERNAME", "true")  # ...and this one True
    monkeypatch.setenv("SOONISH_JWT_EXPIRES_SECONDS", "900")  # a number by default: stays one
    monkeypatch.setenv("SOONISH_SMTP_STARTTLS", "false")
    app = create_app({"DATABASE_URL": f"sqlite:///{tmp_path / 'config.sqlite'}"})
    assert app.config["SMTP_PASSWORD"] == "12345678"
    assert app.config["METRICS_TOKEN"] == "1e3"
    assert app.config["SMTP_USERNAME"] == "true"
    assert app.config["JWT_EXPIRES_SECONDS"] == 900
    assert app.config["SMTP_STARTTLS"] is False


def test_metrics_token_of_digits_guards_metrics(monkeypatch, tmp_path):
    monkeypatch.setenv("SOONISH_METRICS_TOKEN", "20261129")
    client = create_app({"DATABASE_URL": f"sqlite:///{tmp_path / 'config.sqlite'}"}).test_client()
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", headers={"Authorization": "Bearer 20261129"}).status_code == 200


# Framework settings with fixed values: not for operators to change.
FRAMEWORK_SETTINGS = {
    "API_TITLE", "API_VERSION", "OPENAPI_JSON_PATH", "OPENAPI_SWAGGER_UI_PATH", "OPENAPI_SWAGGER_UI_URL",
    "OPENAPI_URL_PREFIX", "OPENAPI_VERSION", "REMEMBER_COOKIE_HTTPONLY", "REMEMBER_COOKIE_SAMESITE",
    "SESSION_COOKIE_HTTPONLY", "SESSION_COOKIE_SAMESITE", "SQLALCHEMY_ENGINE_OPTIONS", "WTF_CSRF_CHECK_DEFAULT",
    "RATELIMIT_SWALLOW_ERRORS", "RATELIMIT_IN_MEMORY_FALLBACK_ENABLED",
}


def test_env_example_documents_every_setting_with_its_default():
    documented = {}
    for line in (ROOT / ".env.example").read_text().splitlines():
        if match := re.match(r"^#?SOONISH_([A-Z0-9_]+)=(.*)$", line):
            documented[match[1]] = match[2]
    settings = {name: value for name, value in vars(Config).items() if name.isupper()}
    assert set(settings) - FRAMEWORK_SETTINGS - set(documented) == set()
    for name in ("DELIVERY_BATCH_SIZE", "DELIVERY_CONCURRENCY", "REMINDER_LEAD_SECONDS", "SMTP_PORT", "PUBLIC_URL"):
        assert documented[name] == str(settings[name]), name
