"""Browser tests: the real app on a loopback port, a real Temporal worker, Debian's Chromium.

Run on their own (`make test-browser`): pytest-playwright's sync fixtures leave an event loop
running that breaks the other tests, so the default pytest run ignores this folder.
"""
import threading
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect
from werkzeug.serving import make_server

from ..conftest import PASSWORD

CHROMIUM = "/usr/bin/chromium"  # Playwright can't download its own browser here
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
    "--disable-sync", "--no-first-run",
]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "artifacts" / "screenshots"
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}
LIVE_UPDATE_TIMEOUT_MS = 10_000  # the event page polls every 3 s, delivery counts every 2 s
IDLE_UPDATE_TIMEOUT_MS = 20_000  # idle delivery panels poll every 10 s
# How long an expectation waits for the page by default. Playwright's 5 s was too short on a
# 2-core box running both suites beside the browser: a form's POST, its redirect and the next
# page took longer under that load, and a test failed while the page was still on its way.
# Each expectation still ends as soon as what it waits for is there.
expect.set_options(timeout=20_000)


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    return {**browser_type_launch_args, "executable_path": CHROMIUM, "args": CHROMIUM_ARGS}


@pytest.fixture(scope="session")
def browser_context_args(browser_context_args):
    return {**browser_context_args, "viewport": DESKTOP, "timezone_id": "Europe/Paris", "locale": "en-GB"}


@pytest.fixture
def live_server(app, worker):
    """The test's app served by a real WSGI server in a thread; its URL."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="live-server", daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(10)


@pytest.fixture
def screenshot():
    """Save the page as seen on a desktop and on a phone, full length."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)

    def take(page, name: str) -> None:
        page.evaluate("window.scrollTo(0, 0)")  # a sticky header scrolled along lands mid-picture
        for label, size in (("desktop", DESKTOP), ("phone", PHONE)):
            page.set_viewport_size(size)
            page.screenshot(path=SCREENSHOTS / f"{name}-{label}.png", full_page=True)
        page.set_viewport_size(DESKTOP)

    return take


@pytest.fixture
def page_problems(page: Page, live_server):
    """Console errors and requests that leave the app (a CDN, say) seen by the main tab."""
    problems: list[str] = []

    def on_console(message) -> None:
        # Chromium logs every 4xx as an error; a 422 is the app answering a form's mistake.
        if message.type == "error" and "status of 422" not in message.text:
            problems.append(message.text)

    page.on("console", on_console)
    page.on("request", lambda request: request.url.startswith(live_server) or problems.append(request.url))
    return problems


def register(page: Page, live_server: str, name: str = "Ada Host", email: str = "ada@example.com") -> None:
    page.goto(f"{live_server}/register")
    page.get_by_label("Name").fill(name)
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_label("Repeat password").fill(PASSWORD)
    page.get_by_role("button", name="Create account").click()
    expect(page).to_have_url(f"{live_server}/dashboard")
    expect(page.get_by_role("status")).to_contain_text("Welcome to Soonish")


def create_event(page: Page, title: str, starts_at: str = "2031-06-20T20:00", location: str = "") -> str:
    """Create an event through the form as the signed-in organizer; the event page's URL."""
    page.get_by_role("link", name="New event").first.click()
    page.get_by_label("Title", exact=True).fill(title)
    page.get_by_label("Starts").fill(starts_at)
    if location:
        page.get_by_label("Where").fill(location)
    page.get_by_role("button", name="Create event").click()
    expect(page.get_by_role("status").first).to_contain_text("Your event is live")
    return page.url


AXE = Path(__file__).resolve().parent / ".axe" / "axe.min.js"


@pytest.fixture(scope="session")
def axe_source() -> str:
    if not AXE.exists():
        pytest.fail("axe-core is missing: `make axe` fetches it (npm pack axe-core, pinned in the Makefile)")
    return AXE.read_text()


@pytest.fixture
def axe_violations(axe_source):
    """axe-core's WCAG 2.1 A/AA violations on the page as shown, as "rule: target" lines. Run
    through the DevTools protocol's evaluate, which the page's CSP doesn't govern."""
    def check(page: Page) -> list[str]:
        found = page.evaluate(axe_source + """
            ;axe.run(document, {runOnly: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"]})
               .then(result => result.violations.map(v => v.id + ": " + v.nodes.map(n => n.target.join(" ")).join(", ")))""")
        return found
    return check
