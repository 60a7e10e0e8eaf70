"""A community's follow button on its own website, in a real browser: the embed code as the
community page shows it, pasted into a page of another origin (another loopback port) whose
Content-Security-Policy allows nothing but its own origin and frames from Soonish. The frame
shows the follow button and the next events without a cookie, breaks none of the site's
policy or accessibility rule (axe), and following opens Soonish in a new tab."""
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from playwright.sync_api import Page, expect

from ..api_helpers import create_event


@pytest.fixture
def soonish(app, live_server) -> str:
    """The live server as the public URL the embed code and the embed's links name."""
    app.config["PUBLIC_URL"] = live_server
    return live_server


@pytest.fixture
def community_site(soonish):
    """``serve(snippet)``: the community's own site on another port, a page holding ``snippet``
    under a strict policy; its URL."""
    servers = []

    def serve(snippet: str) -> str:
        body = (f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Night Owls</title></head>'
                f"<body><main><h1>Night Owls</h1>{snippet}</main></body></html>").encode()

        class Site(BaseHTTPRequestHandler):
            def do_GET(self):
                if self.path != "/":  # the browser's favicon.ico: nothing, and no error logged
                    self.send_response(204)
                    self.end_headers()
                    return
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Security-Policy", f"default-src 'self'; frame-src {soonish}")
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        server = ThreadingHTTPServer(("127.0.0.1", 0), Site)
        threading.Thread(target=server.serve_forever, name="community-site", daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_port}/"

    yield serve
    for server in servers:
        server.shutdown()
        server.server_close()


def test_the_embed_works_on_the_communitys_own_site_under_a_strict_policy(
        page: Page, client, make_user, bearer, soonish, community_site, axe_violations):
    owner = bearer(make_user("owner@example.com"))
    response = client.post("/api/v1/communities", json={"name": "Night Owls", "slug": "night-owls"}, headers=owner)
    assert response.status_code == 201, response.get_json()
    community = response.get_json()
    for title in ("Owl walk", "Star party"):
        create_event(client, owner, title=title, community_id=community["id"])

    # The embed code exactly as the community page offers it.
    page.goto(f"{soonish}/c/night-owls")
    page.get_by_text("Feeds and a follow button for your site").click()
    snippet = page.get_by_label("Paste this where the button should show:").input_value()
    assert f'src="{soonish}/c/night-owls/embed"' in snippet

    site = community_site(snippet)
    console_errors, soonish_cookies = [], []
    page.on("console", lambda message: message.type == "error" and console_errors.append(message.text))
    page.on("response", lambda answer: answer.url.startswith(soonish) and "set-cookie" in answer.headers
            and soonish_cookies.append(answer.url))
    page.context.clear_cookies()
    page.add_init_script("document.addEventListener('securitypolicyviolation', e => "
                         "(window.__violations = window.__violations || []).push(e.violatedDirective + ' ' + e.blockedURI))")
    page.goto(site)

    frame = page.frame_locator("iframe")
    follow = frame.get_by_role("link", name="Follow Night Owls on Soonish")
    expect(follow).to_be_visible()
    expect(frame.get_by_role("link", name="Owl walk")).to_be_visible()
    expect(frame.get_by_role("link", name="Star party")).to_be_visible()
    violations = page.evaluate("window.__violations || []")
    assert violations == [] and console_errors == [], (violations, console_errors)
    assert soonish_cookies == [] and page.context.cookies(soonish) == []  # shown without a cookie
    assert axe_violations(page.frame(url=f"{soonish}/c/night-owls/embed")) == []

    with page.context.expect_page() as opened:
        follow.click()
    soonish_tab = opened.value
    expect(soonish_tab).to_have_url(f"{soonish}/c/night-owls#follow")
    expect(soonish_tab.get_by_role("heading", name="Follow Night Owls")).to_be_visible()
    assert page.url == site  # the community's own page stays where it was
