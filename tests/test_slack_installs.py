""""Add to Slack" for any workspace: slack-bolt's OAuth v2 flow against Slack faked on loopback
(consent page, oauth.v2.access, auth.test, a bot token per workspace that the fake checks on
every call), installations kept encrypted, every send with its workspace's token, and
uninstalls stopping that workspace's sends while the others' go on."""
import json
import logging
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from sqlalchemy import select

from soonish.domain.chat_installations import REMOVED_REASON
from soonish.models import ChatInstallation, Subscription, SubscriptionStatus, db

from .api_helpers import announce, create_event, subscribe
from .chat_fakes import CLIENT_ID, CLIENT_SECRET, SIGNING_SECRET, Workspace, ledger_for, signed_headers, slash_command
from .conftest import PASSWORD, csrf_token
from loopback.sinks import wait_until

ONE = Workspace("T0ONE", "One Club")
TWO = Workspace("T0TWO", "Two Club")
REDIRECT_URI = "http://soonish.test/slack/oauth_redirect"


@pytest.fixture
def oauth_config(app_config, fake_slack):
    """Slack set up for distribution: the app's OAuth credentials, no single bot token."""
    app_config.update(
        SLACK_CLIENT_ID=CLIENT_ID, SLACK_CLIENT_SECRET=CLIENT_SECRET, SLACK_SIGNING_SECRET=SIGNING_SECRET,
        SLACK_API_URL=fake_slack.api_url, SLACK_AUTHORIZE_URL=fake_slack.url("/oauth/v2/authorize"),
    )
    fake_slack.redirect_urls = [REDIRECT_URI]
    return app_config


@pytest.fixture
def installer(make_user, login):
    user = make_user("installer@example.com")
    login(user)
    return user


def start_install(client) -> str:
    """Press "Add to Slack": the address of Slack's consent page bolt sends the browser to."""
    response = client.get("/slack/install")
    assert response.status_code == 302, response.get_data(as_text=True)
    assert "slack-app-oauth-state=" in response.headers["Set-Cookie"]
    return response.headers["Location"]


def consent(fake_slack, authorize_url: str, workspace: Workspace) -> str:
    """The person picks ``workspace`` and presses Allow at Slack: where Slack sends them back."""
    fake_slack.installing = workspace
    answer = requests.get(authorize_url, allow_redirects=False, timeout=10)
    assert answer.status_code == 302, answer.text
    back = urlsplit(answer.headers["Location"])
    assert f"{back.scheme}://{back.netloc}{back.path}" == REDIRECT_URI  # fixed by configuration
    return f"{back.path}?{back.query}"


def add_to_slack(client, fake_slack, workspace: Workspace):
    return client.get(consent(fake_slack, start_install(client), workspace))


def send(client, fake_slack, text: str, team: str, **kwargs):
    body, headers = slash_command(fake_slack, text, team=team, **kwargs)
    return client.post("/slack/events", data=body, headers=headers)


def post_event(client, payload: dict):
    body = json.dumps(payload)
    return client.post("/slack/events", data=body, headers=signed_headers(body, content_type="application/json"))


def installations(app) -> dict[str, ChatInstallation]:
    with app.app_context():
        rows = db.session.scalars(select(ChatInstallation)).all()
        db.session.expunge_all()
        return {row.workspace_id: row for row in rows}


def test_add_to_slack_keeps_each_workspace_with_its_own_encrypted_token(oauth_config, app, client, installer, fake_slack):
    first = add_to_slack(client, fake_slack, ONE)
    assert first.status_code == 303 and first.headers["Location"] == "/channels"
    assert add_to_slack(client, fake_slack, TWO).status_code == 303

    page = client.get("/channels").get_data(as_text=True)
    assert "Soonish is now in Two Club" in page and "One Club" in page
    assert 'href="/slack/install"' in page  # "Add to Slack" for the next workspace
    rows = installations(app)
    assert set(rows) == {"T0ONE", "T0TWO"}
    tokens = {workspace.team_id: token for token, workspace in fake_slack.tokens.items()}
    for team, row in rows.items():
        assert row.installed_by_id == installer.id and row.is_active
        assert row.bot_user_id == f"U0BOT{team}" and "chat:write" in row.bot_scopes
        assert tokens[team].encode() not in row.bot_token_encrypted  # kept encrypted, not as given
    with app.app_context():
        from soonish.services.integrations import cipher

        assert cipher().decrypt(rows["T0ONE"].bot_token_encrypted) == tokens["T0ONE"]


def test_a_reused_state_another_browser_or_a_refused_code_installs_nothing(oauth_config, app, client, installer, fake_slack):
    # Another browser: the callback comes without the state's cookie.
    back = consent(fake_slack, start_install(client), ONE)
    stranger = app.test_client()
    refused = stranger.get(back)
    assert refused.status_code == 400
    assert "started in another browser" in refused.get_data(as_text=True)
    assert 'href="/slack/install"' in refused.get_data(as_text=True)  # a fresh start

    # The same callback twice: the state is single-use.
    back = consent(fake_slack, start_install(client), ONE)
    assert client.get(back).status_code == 303
    client.set_cookie("slack-app-oauth-state", parse_qs(urlsplit(back).query)["state"][0], domain="localhost")
    again = client.get(back)
    assert again.status_code == 401 and "already used" in again.get_data(as_text=True)

    # A state we never issued, and a code Slack refuses.
    client.set_cookie("slack-app-oauth-state", "made-up", domain="localhost")
    assert client.get("/slack/oauth_redirect?code=x&state=made-up").status_code == 401
    authorize = start_install(client)
    state = parse_qs(urlsplit(authorize).query)["state"][0]
    wrong_code = client.get(f"/slack/oauth_redirect?code=not-a-code&state={state}")
    assert wrong_code.status_code == 401 and "refused the authorization code" in wrong_code.get_data(as_text=True)
    assert set(installations(app)) == {"T0ONE"}  # only the one good install


def test_two_workspaces_each_get_their_sends_with_their_own_token_until_one_uninstalls(
    oauth_config, app, client, installer, fake_slack, worker, make_user, bearer, smtp_sink, caplog
):
    caplog.set_level(logging.DEBUG)
    add_to_slack(client, fake_slack, ONE)
    add_to_slack(client, fake_slack, TWO)
    organizer = bearer(make_user("host@example.com"))
    event = create_event(client, organizer, title="Launch party")
    subscribe(client, bearer(make_user("witness@example.com")), event["id"])
    # A person in each workspace follows by DM; a channel of workspace ONE follows too.
    fake_slack.admins.add("U0ANN")
    for team, user in (("T0ONE", "U0ANN"), ("T0TWO", "U0BEN")):
        assert send(client, fake_slack, f"subscribe {event['slug']}", team=team, user=user).status_code == 200
    send(client, fake_slack, f"subscribe {event['slug']} here", team="T0ONE", user="U0ANN", channel="C0GENERAL")
    wait_until(lambda: len(fake_slack.responses) == 3, message="three replies")
    # Each command is answered after its ack, in the background: the answers may arrive in any order.
    assert sum("This channel now follows" in response["text"] for response in fake_slack.responses) == 1
    # bolt called users.info / conversations.info with the token of the workspace each command came from.
    assert {("users.info", "T0ONE"), ("conversations.info", "T0ONE")} <= set(fake_slack.token_calls)
    # Workspace TWO's token only for its own speaker (users.info: their locale and zone).
    assert {method for method, team in fake_slack.token_calls if team == "T0TWO"} <= {"auth.test", "users.info"}

    announce(client, organizer, event["id"], "Doors open at 7")
    for recipient in ("U0ANN", "U0BEN", "C0GENERAL"):
        wait_until(lambda: any("Doors open at 7" in p["text"] for p in fake_slack.posts_to(recipient)),
                   message=f"the announcement to {recipient}")
    teams = {p["channel"]: p["token_team"] for p in fake_slack.posted if "Doors open at 7" in p["text"]}
    assert teams == {"U0ANN": "T0ONE", "C0GENERAL": "T0ONE", "U0BEN": "T0TWO"}

    # Workspace ONE removes the app: Slack revokes its token and tells us.
    assert post_event(client, fake_slack.uninstall("T0ONE")).status_code == 200
    wait_until(lambda: not installations(app)["T0ONE"].is_active, message="the installation marked removed")
    assert installations(app)["T0ONE"].removed_reason == "app_uninstalled"
    wait_until(lambda: smtp_sink.to("installer@example.com"), message="the installer's mail")
    assert "Soonish was removed from One Club" in smtp_sink.to("installer@example.com")[0]["Subject"]
    with app.app_context():  # the channel of ONE follows nothing any more
        statuses = [s.status for s in db.session.scalars(select(Subscription).where(Subscription.event_id == event["id"]))]
    assert statuses.count(SubscriptionStatus.UNSUBSCRIBED) == 1

    announce(client, organizer, event["id"], "Second call")
    wait_until(lambda: any("Second call" in p["text"] for p in fake_slack.posts_to("U0BEN")), message="TWO's DM")
    wait_until(lambda: ledger_for(app, "slack:T0ONE:U0ANN")[-1:] == [("slack", "failed")], message="ONE's DM failed")
    assert not any("Second call" in p["text"] for p in fake_slack.posts_to("U0ANN") + fake_slack.posts_to("C0GENERAL"))
    with app.app_context():
        from soonish.models import Delivery

        reasons = db.session.scalars(select(Delivery.last_error).where(Delivery.target == "slack:T0ONE:U0ANN")).all()
    assert any(r and r.startswith(REMOVED_REASON) for r in reasons)

    # No token ever shows in a log line.
    for token in fake_slack.tokens:
        assert token not in caplog.text


def test_a_token_slack_refuses_without_an_event_ends_the_installation_after_one_check(
    oauth_config, app, client, installer, fake_slack, worker, make_user, bearer
):
    add_to_slack(client, fake_slack, ONE)
    organizer = bearer(make_user("host@example.com"))
    event = create_event(client, organizer, title="Picnic")
    send(client, fake_slack, f"subscribe {event['slug']}", team="T0ONE", user="U0ANN")
    fake_slack.wait_for_response(1)
    fake_slack.revoke_silently("T0ONE")

    announce(client, organizer, event["id"], "Bring a hat")
    wait_until(lambda: not installations(app)["T0ONE"].is_active, message="the installation marked removed")
    assert installations(app)["T0ONE"].removed_reason == "token_refused"
    # The post was refused, then one auth.test confirmed the token is dead.
    assert fake_slack.refused_calls == [("chat.postMessage", "T0ONE"), ("auth.test", "T0ONE")]
    wait_until(lambda: ledger_for(app, "slack:T0ONE:U0ANN")[-1:] == [("slack", "failed")], message="the DM failed")

    announce(client, organizer, event["id"], "Bring a chair")  # nothing more is tried there
    wait_until(lambda: len(ledger_for(app, "slack:T0ONE:U0ANN")) == 3, message="the next DM's ledger row")
    wait_until(lambda: ledger_for(app, "slack:T0ONE:U0ANN")[-1] == ("slack", "failed"), message="failed at once")
    assert len(fake_slack.refused_calls) == 2


def test_a_workspace_with_no_installation_is_told_how_to_add_soonish_and_its_events_ignored(
    oauth_config, app, client, fake_slack, caplog
):
    caplog.set_level(logging.INFO)
    response = send(client, fake_slack, "help", team="T0NOBODY")
    assert response.status_code == 200
    told = fake_slack.wait_for_response(1)["text"]
    assert "isn't installed in this workspace" in told and "http://soonish.test/slack/install" in told
    mention = {"token": "unused", "team_id": "T0NOBODY", "api_app_id": "A0APP", "type": "event_callback",
               "event": {"type": "app_mention", "user": "U0ANN", "text": "hi", "channel": "C0GENERAL", "ts": "1.2"},
               "event_id": "Ev1", "event_time": 1}
    assert post_event(client, mention).status_code == 200
    assert fake_slack.token_calls == [] and fake_slack.posted == []
    said = [r.getMessage() for r in caplog.records if "T0NOBODY" in r.getMessage() or "should be installed" in r.msg]
    assert said == ["requests from Slack workspace T0NOBODY are ignored: Soonish is not installed there"]  # once


def test_the_workspace_page_shows_its_follows_to_its_installer_and_admins_and_uninstalls(
    oauth_config, app, client, installer, fake_slack, make_user, bearer, login
):
    add_to_slack(client, fake_slack, ONE)
    organizer = bearer(make_user("host@example.com"))
    event = create_event(client, organizer, title="Town hall")
    fake_slack.admins.add("U0BOSS")
    send(client, fake_slack, f"subscribe {event['slug']} here", team="T0ONE", user="U0BOSS", channel="C0GENERAL")
    fake_slack.wait_for_response(1)
    installation_id = installations(app)["T0ONE"].id
    page = f"/channels/slack/{installation_id}"

    shown = client.get(page).get_data(as_text=True)
    assert "One Club" in shown and "Town hall" in shown and "Uninstall" in shown

    # Someone else signed in: no such page. A workspace admin whose Slack account is linked: the page.
    other = app.test_client()
    login_as(other, make_user("stranger@example.com"))
    assert other.get(page).status_code == 404
    admin = make_user("boss@example.com")
    with app.app_context():  # U0BOSS (a Slack admin, per the fake) linked to this account
        from soonish.models import ChatIdentity

        db.session.add(ChatIdentity(platform="slack", workspace_id="T0ONE", external_user_id="U0BOSS", user_id=admin.id))
        db.session.commit()
    login_as(other, admin)
    assert other.get(page).status_code == 200

    uninstalled = client.post(f"{page}/uninstall", headers={"X-CSRFToken": csrf_token(client)})
    assert uninstalled.status_code == 302
    assert not installations(app)["T0ONE"].is_active
    assert all(w.team_id != "T0ONE" for t, w in fake_slack.tokens.items() if t not in fake_slack.revoked)
    assert "Town hall" not in client.get(page).get_data(as_text=True)  # its channel follows nothing now


def login_as(client, user) -> None:
    token = csrf_token(client, "/login")
    assert client.post("/login", data={"email": user.email, "password": PASSWORD, "csrf_token": token}).status_code == 302


def test_an_org_wide_grid_install_maps_each_of_its_workspaces_to_the_organization_token(
    oauth_config, app, client, installer, fake_slack, worker, make_user, bearer
):
    org = Workspace("E0ORG", "Big Org", enterprise_id="E0ORG", org_teams=[("T0SALES", "Sales"), ("T0OPS", "Ops")])
    assert add_to_slack(client, fake_slack, org).status_code == 303
    rows = installations(app)
    assert set(rows) == {"E0ORG", "T0SALES", "T0OPS"} and all(r.is_enterprise_install for r in rows.values())
    assert "Big Org" in client.get("/channels").get_data(as_text=True)

    organizer = bearer(make_user("host@example.com"))
    event = create_event(client, organizer, title="All hands")
    send(client, fake_slack, f"subscribe {event['slug']}", team="T0OPS", user="U0OLA")
    assert "You're following All hands" in fake_slack.wait_for_response(1)["text"]
    announce(client, organizer, event["id"], "Agenda")
    wait_until(lambda: any("Agenda" in p["text"] for p in fake_slack.posts_to("U0OLA")), message="the DM")
    assert {p["token_team"] for p in fake_slack.posts_to("U0OLA")} == {"E0ORG"}  # the organization's token


def test_event_pages_offer_add_to_slack_for_any_workspace(oauth_config, app, client, make_user, bearer):
    event = create_event(client, bearer(make_user("host@example.com")), title="Picnic")
    page = client.get(f"/e/{event['slug']}").get_data(as_text=True)
    assert "/soonish subscribe " + event["slug"] in page and 'href="/slack/install"' in page
