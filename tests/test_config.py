"""Settings from the environment arrive as the operator wrote them."""
from soonish.web import create_app


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
