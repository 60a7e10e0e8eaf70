"""Issue 16 in a real browser: forgot password → the mail at the SMTP sink → a new password →
signed in; then the account deleted from the account page."""
import re

from playwright.sync_api import Page, expect

from ..conftest import PASSWORD
from .conftest import register
from .test_follow_flow import mail_to

RESET_LINK = re.compile(r"http://soonish\.test(/reset-password/\S+)")
NEW_PASSWORD = "a fresh passphrase 42"


def test_forgot_password_then_delete_the_account(page: Page, live_server, smtp_sink, screenshot, page_problems):
    register(page, live_server, email="forgetful@example.com")
    page.get_by_role("button", name="Sign out").click()

    page.goto(f"{live_server}/login")
    page.get_by_role("link", name="Forgot your password?").click()
    page.get_by_label("Email").fill("forgetful@example.com")
    screenshot(page, "forgot-password")
    page.get_by_role("button", name="Send me a link").click()
    expect(page).to_have_url(f"{live_server}/login")
    expect(page.get_by_role("status")).to_contain_text("If that address has a Soonish account")

    mail = mail_to(smtp_sink, "forgetful@example.com", "Reset your Soonish password")
    path = RESET_LINK.search(mail.get_body(preferencelist=("plain",)).get_content()).group(1)
    page.goto(f"{live_server}{path}")
    expect(page.get_by_role("heading", name="Choose a new password")).to_be_visible()
    page.get_by_label("New password").fill(NEW_PASSWORD)
    page.get_by_label("Repeat it").fill(NEW_PASSWORD)
    page.get_by_role("button", name="Set my new password").click()
    expect(page).to_have_url(f"{live_server}/dashboard")
    expect(page.get_by_role("status")).to_contain_text("Your new password is set")

    # The link worked once.
    page.goto(f"{live_server}{path}")
    expect(page.get_by_role("heading", name="That link didn't work")).to_be_visible()
    expect(page.get_by_text("already been used")).to_be_visible()

    page.goto(f"{live_server}/account")
    delete = page.locator("#delete")
    delete.get_by_label("Your password").fill(PASSWORD)  # the old one: refused, said beside the field
    delete.get_by_role("button", name="Delete my account").click()
    expect(page.locator("#delete")).to_contain_text("That isn't your password.")
    page.locator("#delete").get_by_label("Your password").fill(NEW_PASSWORD)
    screenshot(page, "account-delete")
    page.locator("#delete").get_by_role("button", name="Delete my account").click()
    expect(page).to_have_url(f"{live_server}/")
    expect(page.get_by_role("status")).to_contain_text("Your account is deleted")

    page.goto(f"{live_server}/login")
    page.get_by_label("Email").fill("forgetful@example.com")
    page.get_by_label("Password").fill(NEW_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_text("don't match an account")).to_be_visible()
    # The spent link answered 404, as it should; nothing else went wrong.
    assert [p for p in page_problems if "status of 404" not in p] == []
