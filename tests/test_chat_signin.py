"""Sign in with Slack (OpenID Connect) and with Discord (OAuth2), against both faked on loopback
as they document their endpoints: an account is made and linked in one step, an existing
account with the same email is joined only through the link mailed to it."""
import re
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from soonish.models import ChatIdentity, User, db

from .conftest import csrf_token
from .chat_fakes import APPLICATION_ID, CLIENT_ID, CLIENT_SECRET, DISCORD_CLIENT_SECRET
from loopback.sinks import wait_until

ANN = {"team": "T0ONE", "team_name": "One Club", "user": "U0ANN", "name": "Ann", "email": "ann@example.com"}


@pytest.fixture
def signin_config(app_config, fake_slack, fake_discord):
    app_config.update(
        SLACK_CLIENT_ID=CLIENT_ID, SLACK_CLIENT_SECRET=CLIENT_SECRET, SLACK_API_URL=fake_slack.api_url,
        SLACK_OIDC_AUTHORIZE_URL=fake_slack.url("/openid/connect/authorize"),
        DISCORD_CLIENT_ID=APPLICATION_ID, DISCORD_CLIENT_SECRET=DISCORD_CLIENT_SECRET,
        DISCORD_API_URL=fake_discord.api_url, DISCORD_OAUTH_AUTHORIZE_URL=fake_discord.url("/oauth2/authorize"),
    )
    fake_slack.redirect_urls = ["http://soonish.test/login/slack/callback"]
    fake_discord.redirect_urls = ["http://soonish.test/login/discord/callback"]
    return app_config


def sign_in_with(client, fake, platform: str, person: dict):
    """Press "Sign in with …", allow at the platform, and come back: the callback's answer."""
    start = client.get(f"/login/{platform}")
    assert start.status_code == 302
    fake.signing_in = person
    allowed = requests.get(start.headers["Location"], allow_redirects=False, timeout=10)
    assert allowed.status_code == 302, allowed.text
    back = urlsplit(allowed.headers["Location"])
    return client.get(f"{back.path}?{back.query}")


def identity_user(app, platform: str, external_id: str) -> User:
    with app.app_context():
        identity = db.session.query(ChatIdentity).filter_by(platform=platform, external_user_id=external_id).one()
        user = identity.user
        db.session.expunge(user)
        return user


def test_sign_in_with_slack_makes_an_account_linked_to_the_slack_identity(signin_config, app, client, fake_slack):
    response = sign_in_with(client, fake_slack, "slack", ANN)
    assert response.status_code == 302 and response.headers["Location"] == "/dashboard"
    user = identity_user(app, "slack", "U0ANN")
    assert user.email == "ann@example.com" and user.is_verified
    page = client.get("/channels").get_data(as_text=True)  # signed in, with the identity shown
    assert "Slack: @Ann in One Club workspace" in page

    client.post("/logout", headers={"X-CSRFToken": csrf_token(client)})
    assert sign_in_with(client, fake_slack, "slack", ANN).status_code == 302  # the same account again
    with app.app_context():
        assert db.session.query(User).filter_by(email="ann@example.com").count() == 1


def test_an_account_with_the_same_email_is_joined_only_through_the_mailed_link(
    signin_config, app, client, fake_slack, make_user, worker, smtp_sink
):
    owner = make_user("ann@example.com")
    response = sign_in_with(client, fake_slack, "slack", ANN)
    assert response.status_code == 200
    assert "There's already a Soonish account for ann@example.com" in response.get_data(as_text=True)
    assert client.get("/channels").status_code == 302  # not signed in
    assert identity_user(app, "slack", "U0ANN").id != owner.id  # not joined

    wait_until(lambda: smtp_sink.to("ann@example.com"), message="the link mail")
    link = re.search(r"http://soonish.test(/link/\S+)", smtp_sink.to("ann@example.com")[0].get_body(("plain",))
                     .get_content()).group(1)
    page = client.get(link)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page.get_data(as_text=True)).group(1)
    assert client.post(link, data={"csrf_token": token}).status_code == 200
    assert identity_user(app, "slack", "U0ANN").id == owner.id


def test_a_callback_from_another_browser_or_a_used_state_signs_nobody_in(signin_config, app, client, fake_slack):
    start = client.get("/login/slack")
    fake_slack.signing_in = ANN
    back = urlsplit(requests.get(start.headers["Location"], allow_redirects=False, timeout=10).headers["Location"])
    stranger = app.test_client()
    refused = stranger.get(f"{back.path}?{back.query}")
    assert refused.status_code == 400 and "started in another browser" in refused.get_data(as_text=True)
    with app.app_context():
        assert db.session.query(ChatIdentity).count() == 0

    # The browser that began it comes back: signed in. The same callback once more is refused.
    assert client.get(f"{back.path}?{back.query}").status_code == 302
    client.post("/logout", headers={"X-CSRFToken": csrf_token(client)})
    with client.session_transaction() as session:
        session["chat_signin_state"] = parse_qs(back.query)["state"][0]
    used = client.get(f"{back.path}?{back.query}")
    assert used.status_code == 400 and "already used" in used.get_data(as_text=True)


def test_sign_in_with_discord_makes_an_account(signin_config, app, client, fake_discord):
    person = {"id": "700000000000000042", "username": "ben", "email": "ben@example.com", "verified": True}
    response = sign_in_with(client, fake_discord, "discord", person)
    assert response.status_code == 302
    assert identity_user(app, "discord", "700000000000000042").email == "ben@example.com"

    client.post("/logout", headers={"X-CSRFToken": csrf_token(client)})
    unverified = {"id": "700000000000000043", "username": "cy", "email": "cy@example.com", "verified": False}
    refused = sign_in_with(client, fake_discord, "discord", unverified)
    assert refused.status_code == 400 and "no verified email" in refused.get_data(as_text=True)
