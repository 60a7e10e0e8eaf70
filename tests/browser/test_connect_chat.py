"""Connect Slack in a real browser: the Channels page gives a one-time command with a copy
button, the page notices by itself when it was typed in Slack (faked on loopback), and the Slack
account then shows as a channel that can be removed."""
import re
from datetime import datetime
from zoneinfo import ZoneInfo

from playwright.sync_api import Page, expect

from ..chat_fakes import slash_command
from .conftest import LIVE_UPDATE_TIMEOUT_MS, register


def test_connect_slack_from_the_channels_page(chat_config, page: Page, app, live_server, fake_slack, screenshot, page_problems):
    register(page, live_server, name="Bea Reader", email="bea@example.com")
    page.get_by_role("navigation").get_by_role("link", name="Channels").click()
    page.get_by_role("button", name="Connect Slack").click()
    expect(page.get_by_role("heading", name="Type this in Slack")).to_be_visible()
    command = page.locator("#connect-command").inner_text()
    assert re.fullmatch(r"/soonish connect [A-Z]{4}-[0-9]{4}", command)
    expect(page.get_by_role("button", name="Copy")).to_be_visible()
    # The code's expiry on the browser's clock (Paris), not the server's UTC.
    expiry = page.locator(".connect-chat time")
    expect(expiry).to_have_text(re.compile(r"^\d\d:\d\d( [AP]M)? (CET|CEST|GMT\+[12])$"))
    paris = datetime.fromisoformat(expiry.get_attribute("datetime")).astimezone(ZoneInfo("Europe/Paris"))
    assert expiry.inner_text().startswith((paris.strftime("%H:%M "), paris.strftime("%I:%M %p")))
    status = page.locator("#connect-status")
    expect(status).to_contain_text("Waiting for you to type it")
    screenshot(page, "connect-slack-code")

    body, headers = slash_command(fake_slack, command.removeprefix("/soonish "), channel="D0ALICE")
    assert app.test_client().post("/slack/events", data=body, headers=headers).status_code == 200
    assert "Connected" in fake_slack.wait_for_response(1)["text"]
    # The page polls: it says so without a reload.
    status = page.locator("#connect-status")
    expect(status).to_contain_text("Connected.", timeout=LIVE_UPDATE_TIMEOUT_MS)
    expect(status).to_contain_text("Slack: @u0alice in acme workspace")

    status.get_by_role("link", name="Back to my channels").click()
    account = page.locator(".channel").filter(has_text="Slack: @u0alice in acme workspace")
    expect(account).to_be_visible()
    screenshot(page, "channels-with-slack")
    account.get_by_role("button", name="Remove").click()
    page.get_by_role("dialog").get_by_role("button", name="Remove it").click()
    expect(page.get_by_role("status").first).to_contain_text("Chat account removed")
    expect(page.get_by_text("Slack: @u0alice in acme workspace")).to_have_count(0)
    assert page_problems == []
