"""Add to Slack and Sign in with Slack in a real browser, through Slack's consent pages faked on
loopback: back on the Channels page with the workspace shown; a new account linked to the Slack
identity."""
import pytest
from playwright.sync_api import Page, expect

from ..chat_fakes import CLIENT_ID, CLIENT_SECRET, SIGNING_SECRET, Workspace
from .conftest import register


@pytest.fixture
def slack_distributed(app_config, fake_slack):
    app_config.update(
        SLACK_CLIENT_ID=CLIENT_ID, SLACK_CLIENT_SECRET=CLIENT_SECRET, SLACK_SIGNING_SECRET=SIGNING_SECRET,
        SLACK_API_URL=fake_slack.api_url, SLACK_AUTHORIZE_URL=fake_slack.url("/oauth/v2/authorize"),
        SLACK_OIDC_AUTHORIZE_URL=fake_slack.url("/openid/connect/authorize"),
    )
    return app_config


@pytest.fixture
def site(slack_distributed, app, live_server, fake_slack) -> str:
    """The live server as the public URL Slack sends people back to."""
    app.config["PUBLIC_URL"] = live_server
    fake_slack.redirect_urls = [f"{live_server}/slack/oauth_redirect", f"{live_server}/login/slack/callback"]
    return live_server


def test_add_to_slack_comes_back_to_the_channels_page_showing_the_workspace(site, page: Page, fake_slack, screenshot):
    register(page, site, name="Ivy Installer", email="ivy@example.com")
    page.get_by_role("navigation").get_by_role("link", name="Channels").click()
    fake_slack.installing = Workspace("T0ONE", "One Club")
    page.get_by_role("link", name="Add to Slack").click()  # to Slack's consent page (the fake allows at once)

    expect(page).to_have_url(f"{site}/channels")
    expect(page.get_by_role("status").first).to_contain_text("Soonish is now in One Club")
    workspaces = page.locator("#slack-workspaces")
    expect(workspaces).to_contain_text("One Club")
    expect(workspaces).to_contain_text("Installed")
    screenshot(page, "channels-after-add-to-slack")


def test_sign_in_with_slack_creates_an_account_linked_to_the_slack_identity(site, page: Page, fake_slack, screenshot):
    fake_slack.signing_in = {"team": "T0ONE", "team_name": "One Club", "user": "U0ANN", "name": "Ann",
                             "email": "ann@example.com"}
    page.goto(f"{site}/login")
    page.get_by_role("link", name="Sign in with Slack").click()

    expect(page).to_have_url(f"{site}/dashboard")
    page.get_by_role("navigation").get_by_role("link", name="Channels").click()
    expect(page.locator(".channel").filter(has_text="Slack: @Ann in One Club workspace")).to_be_visible()
    screenshot(page, "channels-after-sign-in-with-slack")
