"""Issue 28 in Chromium: the service worker registers, the manifest is valid, "Notify me on this
device" makes the device a channel, and a push shows a notification whose "Going" button
answers the RSVP.

What is simulated, and why: headless Chromium has no push service, so ``pushManager.subscribe``
is stubbed to answer the subscription a browser would make (a P-256 key pair and auth secret the
fake push service holds, its endpoint on the fake). The server's real push goes to the fake,
which checks its VAPID JWT and decrypts it with that key; the decrypted payload is then handed to
the service worker as a push message through DevTools (``ServiceWorker.deliverPushMessage``,
what DevTools' "Push" button does), so the worker's own push handler shows the notification.
Nobody can click a notification's button in headless Chromium: the test calls the worker's
click handler (``self.handleNotificationClick``, which its ``notificationclick`` listener calls)
with the notification shown and the "going" action."""
import json
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from babel.dates import format_date
from playwright.sync_api import Page, expect
from sqlalchemy import select

from soonish.models import Integration, Rsvp, db

from ..api_helpers import announce, create_event
from loopback.push_service import TEST_VAPID_KEY, b64url_decode
from loopback.sinks import wait_until

# PushManager.subscribe / getSubscription answered as a browser with a push service would.
STUB_PUSH_MANAGER = """
(subscription) => {
  const stub = {
    endpoint: subscription.endpoint, expirationTime: null, options: {userVisibleOnly: true},
    toJSON: () => subscription,
    getKey: () => null,
    unsubscribe: async () => true,
  };
  let subscribed = null;
  PushManager.prototype.subscribe = async function (options) {
    if (!options || !options.applicationServerKey) throw new Error("no applicationServerKey");
    window.__applicationServerKey = Array.from(new Uint8Array(options.applicationServerKey));
    subscribed = stub;
    return stub;
  };
  PushManager.prototype.getSubscription = async function () { return subscribed; };
}
"""


@pytest.fixture
def app_config(app_config):
    return {**app_config, "VAPID_PRIVATE_KEY": TEST_VAPID_KEY}


def test_notify_me_on_this_device_then_answer_going_from_the_notification(
        page: Page, context, app, client, organizer, live_server, fake_push, screenshot, page_problems):
    event = create_event(client, organizer, title="Rooftop jazz night")
    client.put(f"/api/v1/events/{event['id']}/rsvp-settings", json={"enabled": True}, headers=organizer)
    device = fake_push.new_device()
    context.grant_permissions(["notifications"], origin=live_server)
    page.add_init_script(f"({STUB_PUSH_MANAGER})({json.dumps(device.subscription())})")
    cdp = context.new_cdp_session(page)
    registrations = []
    cdp.on("ServiceWorker.workerRegistrationUpdated", lambda update: registrations.extend(update["registrations"]))
    cdp.send("ServiceWorker.enable")

    page.goto(f"{live_server}/e/{event['slug']}")
    # The service worker registers for the whole site.
    script = page.evaluate("navigator.serviceWorker.ready.then((r) => r.active.scriptURL)")
    assert script == f"{live_server}/sw.js"
    # The manifest: Chromium's own parser finds no error, and its icons load.
    manifest = cdp.send("Page.getAppManifest")
    assert manifest["url"] == f"{live_server}/manifest.webmanifest" and manifest["errors"] == []
    parsed = json.loads(manifest["data"])
    assert parsed["name"] == "Soonish" and parsed["display"] == "standalone" and parsed["theme_color"]
    for icon in parsed["icons"]:
        loaded = page.request.get(live_server + icon["src"])
        assert loaded.ok and loaded.headers["content-type"] == "image/png"
    assert {icon["sizes"] for icon in parsed["icons"]} == {"192x192", "512x512"}

    box = page.locator("#push")
    box.get_by_role("button", name="Notify me on this device").click()
    expect(box).to_contain_text("You get notifications here")
    expect(box.get_by_role("status")).to_contain_text("gets this event's news and reminders")
    screenshot(page, "event-page-push-following")
    with app.app_context():
        channel = db.session.scalar(select(Integration))
        assert channel.is_push and channel.user.email is None
    # The browser subscribed with the server's VAPID public key.
    key = page.evaluate("window.__applicationServerKey")
    assert bytes(key) == b64url_decode(fake_push.vapid_public_key)

    announce(client, organizer, event["id"], "Doors open at 7", "Bring a friend")
    wait_until(lambda: any(p.payload["title"] == "Doors open at 7" for p in fake_push.received(device.token)),
               message="the announcement at the push service")
    assert fake_push.refused == []
    pushed = next(p for p in fake_push.received(device.token) if p.payload["title"] == "Doors open at 7")

    registration_id = next(r["registrationId"] for r in registrations if r["scopeURL"] == f"{live_server}/")
    cdp.send("ServiceWorker.deliverPushMessage", {
        "origin": live_server, "registrationId": registration_id, "data": json.dumps(pushed.payload)})
    shown = "navigator.serviceWorker.ready.then((r) => r.getNotifications()).then((all) => all.map((n) => " \
            "({title: n.title, body: n.body, actions: n.actions.map((a) => a.action)})))"
    wait_until(lambda: any(n["title"] == "Doors open at 7" for n in page.evaluate(shown)), timeout=10,
               message="the notification shown")
    notification = next(n for n in page.evaluate(shown) if n["title"] == "Doors open at 7")
    assert notification["actions"] == ["going", "no"]
    assert notification["body"].startswith("Bring a friend\nWhen: ")
    # A follower reading German: the worker writes the start in German, into the line the server sent.
    german = {**pushed.payload, "title": "Türen um 7", "tag": "german", "lang": "de", "when_line": "Wann: %(when)s"}
    cdp.send("ServiceWorker.deliverPushMessage", {
        "origin": live_server, "registrationId": registration_id, "data": json.dumps(german)})
    in_german = "navigator.serviceWorker.ready.then((r) => r.getNotifications({tag: 'german'}))" \
                ".then((all) => all.map((n) => ({body: n.body, lang: n.lang})))"
    wait_until(lambda: page.evaluate(in_german), timeout=10, message="the German notification shown")
    [shown_in_german] = page.evaluate(in_german)
    device_zone = ZoneInfo(page.evaluate("Intl.DateTimeFormat().resolvedOptions().timeZone"))
    starts = datetime.fromisoformat(pushed.payload["starts_at"]).astimezone(device_zone)
    assert shown_in_german["lang"] == "de" and shown_in_german["body"].startswith("Bring a friend\nWann: ")
    assert format_date(starts, "EEE", locale="de") in shown_in_german["body"]  # "Mo.", "Di.": German weekdays

    worker = context.service_workers[0]
    worker.evaluate("""self.registration.getNotifications().then((all) =>
        self.handleNotificationClick(all.find((n) => n.title === "Doors open at 7"), "going"))""")
    with app.app_context():
        assert db.session.scalar(select(Rsvp)).answer.value == "going"
    wait_until(lambda: any(n["title"] == "You're going" for n in page.evaluate(shown)), timeout=10,
               message="the answer's confirmation")

    box.get_by_role("button", name="Stop").click()
    expect(box.get_by_role("button", name="Notify me on this device")).to_be_visible()
    assert page_problems == []
