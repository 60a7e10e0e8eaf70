from datetime import datetime, timedelta, timezone

import jwt

from soonish.config import Config
from soonish.models import User
from soonish.web import create_app

from .conftest import PASSWORD, csrf_token


def test_register_login_logout_through_the_pages(client):
    token = csrf_token(client, "/register")
    response = client.post(
        "/register",
        data={"display_name": "Ada", "email": "Ada@Example.com", "password": PASSWORD, "confirm": PASSWORD, "csrf_token": token},
    )
    assert response.status_code == 302 and response.headers["Location"] == "/dashboard"
    assert "My events" in client.get("/dashboard").get_data(as_text=True)

    client.post("/logout", data={"csrf_token": csrf_token(client, "/dashboard")})
    assert client.get("/dashboard").status_code == 302

    response = client.post(
        "/login", data={"email": "ada@example.com", "password": PASSWORD, "csrf_token": csrf_token(client, "/login")}
    )
    assert response.status_code == 302
    assert client.get("/dashboard").status_code == 200


def test_register_rejects_a_taken_email_and_a_short_password(client, make_user):
    make_user("taken@example.com")
    page = client.post(
        "/register",
        data={"email": "taken@example.com", "password": PASSWORD, "confirm": PASSWORD, "csrf_token": csrf_token(client, "/register")},
    ).get_data(as_text=True)
    assert "Already registered." in page
    page = client.post(
        "/register",
        data={"email": "new@example.com", "password": "short", "confirm": "short", "csrf_token": csrf_token(client, "/register")},
    ).get_data(as_text=True)
    assert "at least 8 characters" in page


def test_wrong_password_shows_a_form_error(client, make_user):
    user = make_user()
    response = client.post(
        "/login", data={"email": user.email, "password": "nope-nope", "csrf_token": csrf_token(client, "/login")}
    )
    assert response.status_code == 200
    assert "don&#39;t match an account" in response.get_data(as_text=True)


def test_login_never_redirects_off_site(client, make_user):
    user = make_user()
    response = client.post(
        "/login?next=https://evil.example/",
        data={"email": user.email, "password": PASSWORD, "csrf_token": csrf_token(client, "/login")},
    )
    assert response.headers["Location"] == "/dashboard"


def test_form_posts_without_csrf_are_refused(client, make_user):
    user = make_user()
    response = client.post("/login", data={"email": user.email, "password": PASSWORD})
    assert response.status_code == 400
    assert client.get("/dashboard").status_code == 302


def test_cookie_api_requests_need_csrf_but_bearer_requests_do_not(client, make_user, login, bearer, worker):
    user = make_user()
    login(user)
    body = {"title": "Cookie event", "starts_at": "2031-05-01T18:00:00", "timezone": "Europe/Paris"}
    assert client.post("/api/v1/events", json=body).status_code == 400
    with_csrf = client.post("/api/v1/events", json=body, headers={"X-CSRFToken": csrf_token(client)})
    assert with_csrf.status_code == 201
    assert with_csrf.get_json()["starts_at"].startswith("2031-05-01T16:00:00")

    bearer_only = client.application.test_client()
    assert bearer_only.post("/api/v1/events", json=body, headers=bearer(user)).status_code == 201


def test_api_register_and_token(client):
    response = client.post("/api/v1/auth/register", json={"email": "api@example.com", "password": PASSWORD})
    assert response.status_code == 201 and response.get_json()["email"] == "api@example.com"
    duplicate = client.post("/api/v1/auth/register", json={"email": "api@example.com", "password": PASSWORD})
    assert duplicate.status_code == 409 and "email" in duplicate.get_json()["error"]["fields"]
    bad = client.post("/api/v1/auth/register", json={"email": "not-an-email", "password": "x"})
    assert bad.status_code == 422 and {"email", "password"} <= set(bad.get_json()["error"]["fields"])

    token = client.post("/api/v1/auth/token", json={"email": "api@example.com", "password": PASSWORD})
    assert token.status_code == 200
    access = token.get_json()["access_token"]
    assert client.get("/api/v1/events", headers={"Authorization": f"Bearer {access}"}).status_code == 200

    wrong = client.post("/api/v1/auth/token", json={"email": "api@example.com", "password": "wrong-password"})
    assert wrong.status_code == 401 and wrong.get_json()["error"]["code"] == "unauthorized"



def test_expired_forged_and_malformed_tokens_get_401(app, client, make_user):
    user = make_user()
    body = {"title": "x", "starts_at": "2031-05-01T18:00:00Z"}
    now = datetime.now(timezone.utc)
    expired = jwt.encode(
        {"sub": str(user.id), "iat": now - timedelta(hours=2), "exp": now - timedelta(hours=1), "typ": "access"},
        app.config["SECRET_KEY"], algorithm="HS256",
    )
    forged = jwt.encode(
        {"sub": str(user.id), "exp": now + timedelta(hours=1), "typ": "access"}, "not-our-secret-" * 3, algorithm="HS256"
    )
    unsigned = jwt.encode({"sub": str(user.id), "exp": now + timedelta(hours=1), "typ": "access"}, None, algorithm="none")
    for token in (expired, forged, unsigned, "garbage", ""):
        response = client.post("/api/v1/events", json=body, headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 401, token
        assert response.get_json()["error"]["code"] == "unauthorized"


def test_a_bad_bearer_token_never_falls_back_to_the_session(client, make_user, login):
    user = make_user()
    login(user)
    response = client.post(
        "/api/v1/events",
        json={"title": "x", "starts_at": "2031-05-01T18:00:00Z"},
        headers={"Authorization": "Bearer forged", "X-CSRFToken": csrf_token(client)},
    )
    assert response.status_code == 401


def test_passwords_are_hashed_with_scrypt_unless_a_deployment_says_otherwise(app):
    """The suite hashes cheaply (conftest); what a deployment gets by default is scrypt, and a
    hash keeps working whatever the setting becomes, since it names its own method."""
    assert Config.PASSWORD_HASH_METHOD == "scrypt"
    deployed = create_app({**app.config, "PASSWORD_HASH_METHOD": Config.PASSWORD_HASH_METHOD})
    with deployed.app_context():
        user = User(email="scrypt@example.com")
        user.set_password(PASSWORD)
    assert user.password_hash.startswith("scrypt:")
    with app.app_context():
        assert user.check_password(PASSWORD) and not user.check_password(PASSWORD + "!")
