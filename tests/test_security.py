"""Cookie flags, security headers on every kind of response, and the default-secret guard."""
import io
import re

import pytest
from click.testing import CliRunner

from soonish.cli import cli
from soonish.config import Config
from soonish.web import create_app
from soonish.web.security import refuse_default_secret_key

from .conftest import csrf_token


@pytest.mark.parametrize("path", ["/", "/login", "/api/v1/events", "/api/v1/openapi.json", "/static/css/soonish.css", "/nowhere"])
def test_every_response_carries_the_security_headers(client, path):
    headers = client.get(path).headers
    csp = dict(part.strip().split(" ", 1) for part in headers["Content-Security-Policy"].split(";"))
    assert csp["default-src"] == "'self'" and csp["style-src"] == "'self'"
    assert csp["script-src"].split() == ["'self'", "'unsafe-eval'"]  # no inline scripts, no other hosts
    assert csp["frame-ancestors"] == "'none'" and csp["object-src"] == "'none'"
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["X-Frame-Options"] == "DENY"
    assert headers["Referrer-Policy"] == "strict-origin-when-cross-origin"
    assert "Strict-Transport-Security" not in headers  # plain http


def test_https_responses_ask_browsers_to_stay_on_https(client):
    response = client.get("/", base_url="https://soonish.example")
    assert response.headers["Strict-Transport-Security"].startswith("max-age=")


def test_the_api_docs_page_needs_no_inline_script(client):
    page = client.get("/api/v1/docs").get_data(as_text=True)
    assert "<script>" not in page and re.search(r"/static/js/swagger-ui-init-[0-9a-f]{32}\.js", page)
    assert 'data-spec-url="/api/v1/openapi.json"' in page
    assert client.get("/static/js/swagger-ui-init.js").status_code == 200


def set_cookies(app) -> list[str]:
    # Showing the sign-in form puts a CSRF token in the session.
    return app.test_client().get("/login").headers.getlist("Set-Cookie")


def test_production_cookies_are_secure_httponly_and_lax(database_url):
    app = create_app({"SECRET_KEY": "s" * 40, "DATABASE_URL": database_url})
    assert app.config["REMEMBER_COOKIE_SECURE"] is True
    (session_cookie,) = set_cookies(app)
    attributes = [part.strip() for part in session_cookie.split(";")]
    assert {"Secure", "HttpOnly", "SameSite=Lax"} <= set(attributes)


def test_dev_cookies_work_over_plain_http_and_the_setting_wins(database_url):
    dev = create_app({"DEV": True, "DATABASE_URL": database_url})
    (session_cookie,) = set_cookies(dev)
    assert "Secure" not in session_cookie and "HttpOnly" in session_cookie
    explicit = create_app({"DEV": True, "SESSION_COOKIE_SECURE": True, "DATABASE_URL": database_url})
    assert "Secure" in set_cookies(explicit)[0]


def test_the_default_secret_key_is_refused_outside_dev():
    with pytest.raises(RuntimeError, match="SOONISH_SECRET_KEY"):
        refuse_default_secret_key({"SECRET_KEY": Config.SECRET_KEY, "DEV": False})
    refuse_default_secret_key({"SECRET_KEY": Config.SECRET_KEY, "DEV": True})
    refuse_default_secret_key({"SECRET_KEY": "a-real-secret", "DEV": False})


def test_soonish_web_will_not_start_with_the_default_secret_key(database_url, monkeypatch):
    monkeypatch.delenv("SOONISH_SECRET_KEY", raising=False)
    monkeypatch.delenv("SOONISH_DEV", raising=False)
    monkeypatch.setenv("SOONISH_DATABASE_URL", database_url)
    result = CliRunner().invoke(cli, ["web"])
    assert result.exit_code != 0
    assert "SOONISH_SECRET_KEY is the default" in result.output


def test_nul_characters_are_refused_with_the_field_named(client, make_user, bearer, login):
    # PostgreSQL text cannot hold NUL: without this guard these were 500s there.
    user = make_user()
    event = client.post("/api/v1/events", json={"title": "a\x00b", "starts_at": "2031-01-01T10:00:00Z"}, headers=bearer(user))
    assert event.status_code == 422 and "title" in event.get_json()["error"]["fields"]
    token = client.post("/api/v1/auth/token", json={"email": "x\x00@example.com", "password": "p"})
    assert token.status_code == 422 and "email" in token.get_json()["error"]["fields"]
    nested = client.post("/api/v1/auth/register", json=[{"email": "\x00"}])
    assert nested.status_code == 422 and "_schema" in nested.get_json()["error"]["fields"]
    assert client.get("/e/slug%00").status_code == 422
    assert client.get("/api/v1/events?x=%00").status_code == 422
    login(user)
    page = client.post("/events/new", data={"title": "x\x00", "csrf_token": csrf_token(client, "/events/new")})
    assert page.status_code == 422 and "text/html" in page.content_type
    assert b"The request contains NUL characters" in page.data  # what went wrong, not a generic sentence
    # A multipart form (a cover upload) carries the NUL as itself.
    upload = client.post("/events/new", content_type="multipart/form-data", data={
        "title": "x\x00", "csrf_token": csrf_token(client, "/events/new"), "cover": (io.BytesIO(b"\x89PNG"), "c.png")})
    assert upload.status_code == 422 and b"The request contains NUL characters" in upload.data
    # A value with a backslash or a percent sign but no NUL goes through (the guard only looks
    # closer at requests that spell one).
    fine = client.post("/api/v1/events", json={"title": "100% \\u0001 fine", "starts_at": "2031-01-01T10:00:00Z"},
                       headers=bearer(user))
    assert fine.status_code == 201, fine.get_json()
