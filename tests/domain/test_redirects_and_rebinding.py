"""SSRF through redirects and DNS re-pointing (issue 10, item 8), on both HTTP paths: the pooled
webhook client (channels' webhooks and our signed outgoing ones) and Apprise's long tail (its
plugins use ``requests``).

Real HTTP servers on loopback: a receiver answering 307 to a "private" target, and that target,
which must never receive anything.
"""
import pytest
import requests
from aiohttp import web

from soonish.domain.delivery import (
    Courier, Destination, Failed, MailSettings, Message, Sent, SignedEndpoint, parse_apprise_url,
)
from soonish.domain.delivery.pacing import Pacer
from soonish.domain.delivery.transports import TransportContext
from soonish.domain.delivery.transports.apprise import AppriseTransport
from soonish.domain.delivery.transports.webhook import WebhookTransport, http_pool

from loopback.sinks import LoopbackServer

MESSAGE = Message(delivery_key="soonish-1", title="Doors open", text="Doors open at 7", short="Doors open at 7")
SIGNED = Message(delivery_key="msg_1", title="event.updated", text="", short="", extra={"type": "event.updated"})


class Secret:
    """The private target (think 169.254.169.254): it counts whatever reaches it."""

    def __init__(self) -> None:
        self.hits: list[str] = []
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self.server = LoopbackServer(app, "secret")
        self.port = self.server.start()

    async def _handle(self, request: web.Request) -> web.Response:
        self.hits.append(f"{request.method} {request.path}")
        return web.Response(text="instance credentials")


class Redirector:
    """An allowed receiver that answers every request with 307 to the secret."""

    def __init__(self, location: str) -> None:
        self.hits = 0
        self.location = location
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self.server = LoopbackServer(app, "redirector")
        self.port = self.server.start()

    async def _handle(self, request: web.Request) -> web.Response:
        await request.read()
        self.hits += 1
        return web.Response(status=307, headers={"Location": self.location})


@pytest.fixture
def secret():
    target = Secret()
    yield target
    target.server.stop()


@pytest.fixture
def redirector(secret):
    receiver = Redirector(f"http://127.0.0.1:{secret.port}/latest/meta-data/iam")
    yield receiver
    receiver.server.stop()


async def deliver(url: str, allow_private: bool = True):
    async with Courier(MailSettings(sender="soonish@example.com"), allow_private) as courier:
        return await courier.deliver(Destination(apprise_url=url), MESSAGE)


def assert_redirect_refused(outcome, receiver, secret) -> None:
    assert isinstance(outcome, Failed), outcome
    assert outcome.permanent
    assert "HTTP 307" in outcome.reason and "redirect" in outcome.reason
    assert "meta-data" not in outcome.reason and "/hook" not in outcome.reason  # scheme://host at most
    assert receiver.hits == 1  # asked once, not retried through the redirect
    assert secret.hits == []


# Redirects: not followed on either path, even with private targets allowed (loopback here).

async def test_the_webhook_pool_does_not_follow_a_redirect(redirector, secret):
    outcome = await deliver(f"json://127.0.0.1:{redirector.port}/hook")
    assert_redirect_refused(outcome, redirector, secret)


async def test_apprise_plugins_do_not_follow_a_redirect(redirector, secret):
    # ntfy on a host of its own: Apprise's own plugin sends it, through requests.post.
    url = f"ntfy://127.0.0.1:{redirector.port}/doors"
    assert type(parse_apprise_url(url)).__name__ == "NotifyNtfy"
    outcome = await deliver(url)
    assert_redirect_refused(outcome, redirector, secret)


async def test_a_json_webhook_with_another_method_goes_through_apprise_and_is_not_redirected(redirector, secret):
    outcome = await deliver(f"json://127.0.0.1:{redirector.port}/hook?method=PUT")
    assert_redirect_refused(outcome, redirector, secret)


async def test_a_signed_webhook_does_not_follow_a_redirect(redirector, secret):
    endpoint = SignedEndpoint(f"http://127.0.0.1:{redirector.port}/hook", "whsec_" + "A" * 32)
    async with Courier(MailSettings(sender="soonish@example.com"), allow_private=True) as courier:
        outcome = await courier.deliver(Destination(signed_webhook=endpoint), SIGNED)
    assert_redirect_refused(outcome, redirector, secret)


def test_requests_outside_a_delivery_still_follow_redirects(redirector, secret):
    # The guard is scoped to a plugin's send on its thread; the rest of the process is untouched.
    response = requests.get(f"http://127.0.0.1:{redirector.port}/x", timeout=5)
    assert response.status_code == 200 and response.text == "instance credentials"
    assert secret.hits == ["GET /latest/meta-data/iam"]


async def test_a_receiver_that_answers_200_is_sent(secret):
    assert isinstance(await deliver(f"json://127.0.0.1:{secret.port}/hook"), Sent)
    assert isinstance(await deliver(f"ntfy://127.0.0.1:{secret.port}/doors"), Sent)
    assert len(secret.hits) == 2


# Connect time: the host passed the save/send check, then resolves (or is) private when the
# transport connects. The transports are called directly, past the Courier's own check, as a
# DNS name re-pointed between check and connect would get past it.

@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
async def test_the_webhook_pool_checks_the_address_at_connect_time(secret, host):
    plugin = parse_apprise_url(f"json://{host}:{secret.port}/hook")
    http = http_pool(allow_private=False, connections=2)
    try:
        context = TransportContext(http, MailSettings(sender="soonish@example.com"), None, allow_private=False,
                                   pacer=Pacer())
        outcome = await WebhookTransport(context).send(plugin, MESSAGE)
    finally:
        await http.close()
    assert isinstance(outcome, Failed) and outcome.permanent, outcome
    assert "private address" in outcome.reason
    assert secret.hits == []


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
async def test_a_signed_webhook_checks_the_address_at_connect_time(secret, host):
    # The Courier does not check a signed webhook's host (the endpoint's own check does, before
    # each attempt): the pool's guard is what stands at connect time.
    endpoint = SignedEndpoint(f"http://{host}:{secret.port}/hook", "whsec_" + "A" * 32)
    async with Courier(MailSettings(sender="soonish@example.com"), allow_private=False) as courier:
        outcome = await courier.deliver(Destination(signed_webhook=endpoint), SIGNED)
    assert isinstance(outcome, Failed) and outcome.permanent, outcome
    assert "private address" in outcome.reason
    assert secret.hits == []


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
async def test_apprise_plugins_check_the_address_at_connect_time(secret, host):
    plugin = parse_apprise_url(f"ntfy://{host}:{secret.port}/doors")
    context = TransportContext(None, MailSettings(sender="soonish@example.com"), None, allow_private=False,
                                   pacer=Pacer())
    outcome = await AppriseTransport(context).send(plugin, MESSAGE)
    assert isinstance(outcome, Failed) and outcome.permanent, outcome
    assert "private address" in outcome.reason
    assert secret.hits == []
