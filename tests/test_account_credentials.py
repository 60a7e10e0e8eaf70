"""Forgot password, change password and email, sign out everywhere: through the real pages and
API, with mails through the real worker to the SMTP sink."""
import re
import time

import pytest
from itsdangerous import TimestampSigner, URLSafeTimedSerializer

from soonish.links import LinkPurpose
from soonish.models import User, db

from .conftest import PASSWORD, csrf_token
from .temporal_helpers import wait_for_outbox_drained

LINK = re.compile(r"http://soonish\.test(/\S+)")
NEW_PASSWORD = "a brand new passphrase"


def link_in(mail, prefix: str) -> str:
    text = mail.get_body(preferencelist=("plain",)).get_content()
    return next(p for p in LINK.findall(text) if p.startswith(prefix))


def ask_for_reset(client, email: str):
    return client.post("/forgot-password", data={"email": email, "csrf_token": csrf_token(client, "/forgot-password")})


def reset_with(client, path: str, password: str = NEW_PASSWORD):
    return client.post(path, data={"password": password, "confirm": password, "csrf_token": csrf_token(client, path)})


def user_row(app, user_id: int) -> User:
    with app.app_context():
        user = db.session.get(User, user_id)
        db.session.expunge(user)
        return user


def signed_in(client) -> bool:
    return client.get("/account").status_code == 200


def test_forgot_password_answers_alike_and_mails_a_single_use_link(app, client, make_user, login, worker, smtp_sink,
                                                                 bearer, harness, temporal_env):
    user = make_user("member@example.com")
    other_browser = app.test_client()
    # Another session and an API token from before the reset.
    other_browser.post("/login", data={"email": user.email, "password": PASSWORD,
                                       "csrf_token": csrf_token(other_browser, "/login")})
    assert signed_in(other_browser)
    old_token = bearer(user)
    assert client.get("/api/v1/me/subscriptions", headers=old_token).status_code == 200

    for_member = ask_for_reset(client, "Member@Example.com")
    for_stranger = ask_for_reset(client, "nobody@example.com")
    assert for_member.status_code == for_stranger.status_code == 302
    assert for_member.headers["Location"] == for_stranger.headers["Location"]
    page_after = client.get("/login").get_data(as_text=True)
    assert "If that address has a Soonish account" in page_after

    mail = smtp_sink.wait_for(1)[0]
    # Both requests left a mail in the outbox (the work is the same either way): once both are
    # done, the stranger's would have mailed.
    wait_for_outbox_drained(app)
    assert [m["X-Envelope-To"] for m in smtp_sink.messages] == ["member@example.com"]
    assert "Reset your Soonish password" in mail["Subject"]
    path = link_in(mail, "/reset-password/")

    form = client.get(path)
    assert form.status_code == 200 and "Choose a new password" in form.get_data(as_text=True)
    short = reset_with(client, path, "short")
    assert short.status_code == 422 and "at least 8" in short.get_data(as_text=True).lower()
    done = reset_with(client, path)
    assert done.status_code == 302
    assert signed_in(client)  # the resetter is signed in with the new password
    assert not signed_in(other_browser)  # every other session is signed out
    refused = client.get("/api/v1/me/subscriptions", headers=old_token)
    assert refused.status_code == 401 and refused.get_json()["error"]["code"] == "unauthorized"

    again = app.test_client().get(path)
    assert again.status_code == 404 and "already been used" in again.get_data(as_text=True)
    assert user_row(app, user.id).check_password(NEW_PASSWORD)
    token = app.test_client().post("/api/v1/auth/token", json={"email": user.email, "password": NEW_PASSWORD})
    assert token.status_code == 200


def expired_link(secret: str, purpose: str, payload) -> str:
    class TwoHoursAgo(TimestampSigner):
        def get_timestamp(self) -> int:
            return int(time.time()) - 7200

    return URLSafeTimedSerializer(secret, salt=purpose, signer=TwoHoursAgo).dumps(payload)


def test_expired_unknown_and_forged_reset_links_get_clear_errors(app, client, make_user):
    user = make_user()
    expired = expired_link(app.config["SECRET_KEY"], LinkPurpose.RESET_PASSWORD, [user.id, 0])
    page = client.get(f"/reset-password/{expired}")
    assert page.status_code == 404 and "This link has expired" in page.get_data(as_text=True)
    for token in ("unknown-token", expired[:-3] + "abc"):
        page = client.get(f"/reset-password/{token}")
        assert page.status_code == 404 and "This link is not valid" in page.get_data(as_text=True)
    api = client.post("/api/v1/auth/password-reset/confirm", json={"token": expired, "password": NEW_PASSWORD})
    assert api.status_code == 404 and "expired" in api.get_json()["error"]["message"]
    api = client.post("/api/v1/auth/password-reset/confirm", json={"token": "nope", "password": "x"})
    assert api.status_code == 422 and "password" in api.get_json()["error"]["fields"]
    assert user_row(app, user.id).check_password(PASSWORD)


def test_reset_by_api_answers_alike_and_refuses_old_tokens(app, client, make_user, bearer, worker, smtp_sink):
    user = make_user("api@example.com")
    old = bearer(user)
    known = client.post("/api/v1/auth/password-reset", json={"email": "api@example.com"})
    unknown = client.post("/api/v1/auth/password-reset", json={"email": "ghost@example.com"})
    assert known.status_code == unknown.status_code == 202 and known.get_json() == unknown.get_json()
    token = link_in(smtp_sink.wait_for(1)[0], "/reset-password/").rsplit("/", 1)[1]
    answer = client.post("/api/v1/auth/password-reset/confirm", json={"token": token, "password": NEW_PASSWORD})
    assert answer.status_code == 200
    fresh = {"Authorization": f"Bearer {answer.get_json()['access_token']}"}
    assert client.get("/api/v1/me/subscriptions", headers=fresh).status_code == 200
    assert client.get("/api/v1/me/subscriptions", headers=old).status_code == 401
    reused = client.post("/api/v1/auth/password-reset/confirm", json={"token": token, "password": NEW_PASSWORD})
    assert reused.status_code == 404 and "already been used" in reused.get_json()["error"]["message"]


@pytest.fixture
def two_resets_per_address(app_config):
    app_config["PASSWORD_RESET_RATE_LIMIT_PER_EMAIL"] = "2 per hour"


def test_forgot_password_is_rate_limited_per_address(two_resets_per_address, client):
    for _ in range(2):
        assert ask_for_reset(client, "target@example.com").status_code == 302
    limited = ask_for_reset(client, "target@example.com")
    assert limited.status_code == 429 and "Too many reset mails to that address" in limited.get_data(as_text=True)
    assert ask_for_reset(client, "someone-else@example.com").status_code == 302
    api = client.post("/api/v1/auth/password-reset", json={"email": "target@example.com"})
    assert api.status_code == 429 and api.get_json()["error"]["code"] == "rate_limited"


def test_revoke_by_api_stops_every_older_token_and_session(app, client, make_user, bearer, login):
    user = make_user()
    login(user)
    first, second = bearer(user), bearer(user)
    assert client.post("/api/v1/auth/revoke", headers=first).status_code == 204
    for headers in (first, second):
        assert client.get("/api/v1/me/subscriptions", headers=headers).status_code == 401
    assert not signed_in(client)
    assert app.test_client().post("/api/v1/auth/revoke").status_code == 401
    assert app.test_client().get("/api/v1/me/subscriptions", headers=bearer(user_row(app, user.id))).status_code == 200


def test_sign_out_everywhere_from_the_account_page(app, client, make_user, login, bearer):
    user = make_user()
    login(user)
    other = app.test_client()
    other.post("/login", data={"email": user.email, "password": PASSWORD, "csrf_token": csrf_token(other, "/login")})
    token = bearer(user)
    page = client.get("/account").get_data(as_text=True)
    assert "Sign out everywhere" in page
    response = client.post("/account/sign-out-everywhere", data={"csrf_token": csrf_token(client, "/account")})
    assert response.status_code == 302
    assert not signed_in(client) and not signed_in(other)
    assert client.get("/api/v1/me/subscriptions", headers=token).status_code == 401


def test_change_password_needs_the_current_one_and_signs_out_other_sessions(app, client, make_user, login, bearer):
    user = make_user()
    login(user)
    other = app.test_client()
    other.post("/login", data={"email": user.email, "password": PASSWORD, "csrf_token": csrf_token(other, "/login")})

    def change(current: str, new: str):
        return client.post("/account/password", data={
            "pw-current_password": current, "pw-password": new, "pw-confirm": new,
            "csrf_token": csrf_token(client, "/account"),
        })

    wrong = change("not my password", NEW_PASSWORD)
    assert wrong.status_code == 422 and "That isn&#39;t your current password." in wrong.get_data(as_text=True)
    assert change(PASSWORD, NEW_PASSWORD).status_code == 302
    assert signed_in(client) and not signed_in(other)
    assert user_row(app, user.id).check_password(NEW_PASSWORD)

    headers = bearer(user_row(app, user.id))
    wrong = client.post("/api/v1/me/password", json={"current_password": "nope", "new_password": "another one!"},
                        headers=headers)
    assert wrong.status_code == 422 and "current_password" in wrong.get_json()["error"]["fields"]
    right = client.post("/api/v1/me/password", json={"current_password": NEW_PASSWORD, "new_password": "another one!"},
                        headers=headers)
    assert right.status_code == 200 and right.get_json()["access_token"]
    assert client.get("/api/v1/me/subscriptions", headers=headers).status_code == 401


def test_change_email_confirms_the_new_address_and_lets_the_old_one_undo(app, client, make_user, login, worker,
                                                                        smtp_sink):
    user = make_user("old@example.com")
    make_user("taken@example.com")
    login(user)

    def ask(email: str, password: str = PASSWORD):
        return client.post("/account/email", data={
            "em-email": email, "em-current_password": password, "csrf_token": csrf_token(client, "/account"),
        })

    assert "already in use" in ask("taken@example.com").get_data(as_text=True).lower()
    assert ask("new@example.com", "wrong password").status_code == 422
    assert ask("new@example.com").status_code == 302
    confirm = smtp_sink.wait_for(1)[0]
    assert confirm["X-Envelope-To"] == "new@example.com"
    assert user_row(app, user.id).email == "old@example.com"  # nothing changes before the link

    assert client.get(link_in(confirm, "/account/email/confirm/")).status_code == 302
    assert user_row(app, user.id).email == "new@example.com"
    notice = smtp_sink.wait_for(2)[1]
    assert notice["X-Envelope-To"] == "old@example.com" and "changed" in notice["Subject"]

    undo = link_in(notice, "/account/email/undo/")
    page = client.get(undo)
    assert page.status_code == 200 and user_row(app, user.id).email == "new@example.com"  # GET only asks
    assert client.post(undo, data={"csrf_token": csrf_token(client, undo)}).status_code == 302
    restored = user_row(app, user.id)
    assert restored.email == "old@example.com"
    assert not signed_in(client)  # undoing signs out everywhere
