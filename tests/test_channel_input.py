"""Channel URLs: a length limit, real ports, and never a cloud metadata service, not even with
private targets allowed (as in these tests, whose sinks live on loopback)."""
import asyncio

import pytest

from soonish.models import Integration, User, db
from soonish.netguard import GuardedResolver, PrivateTargetRefused
from soonish.field_limits import CHANNEL_URL_MAX
from soonish.services.integrations import cipher, send_test

from .api_helpers import add_integration
from .conftest import csrf_token


@pytest.fixture
def reader(make_user):
    return make_user("reader@example.com")


def refused_url(response) -> str:
    assert response.status_code == 422, response.get_json()
    return " ".join(response.get_json()["error"]["fields"]["url"])


def channel_count(app) -> int:
    with app.app_context():
        return db.session.query(Integration).count()


def test_api_refuses_a_channel_url_past_the_limit(app, client, reader, bearer, http_sink):
    headers = bearer(reader)
    base = http_sink.url("/")
    huge = base + "A" * 100_000
    assert refused_url(client.post("/api/v1/integrations", json={"name": "x", "url": huge}, headers=headers))
    assert channel_count(app) == 0
    longest = base + "A" * (CHANNEL_URL_MAX - len(base))
    hook = add_integration(client, headers, longest)
    response = client.patch(f"/api/v1/integrations/{hook['id']}", json={"url": longest + "A"}, headers=headers)
    assert refused_url(response)

    spec = client.get("/api/v1/openapi.json").get_json()["components"]["schemas"]
    assert spec["IntegrationIn"]["properties"]["url"]["maxLength"] == CHANNEL_URL_MAX
    assert spec["IntegrationPatch"]["properties"]["url"]["maxLength"] == CHANNEL_URL_MAX


@pytest.mark.parametrize("url", ["json://127.0.0.1:99999/", "json://127.0.0.1:0/", "form://example.com:70000/hook",
                                 "mailto://me:pw@example.com:123456?to=x@example.com"])
def test_api_refuses_a_port_that_does_not_exist(app, client, reader, bearer, url):
    response = client.post("/api/v1/integrations", json={"name": "x", "url": url}, headers=bearer(reader))
    assert "1 to 65535" in refused_url(response)
    assert channel_count(app) == 0


def test_the_highest_port_is_fine(client, reader, bearer):
    add_integration(client, bearer(reader), "json://127.0.0.1:65535/hook")


@pytest.mark.parametrize("url, message", [
    ("json://127.0.0.1/" + "A" * 3000, "2,048 characters at most"),
    ("json://127.0.0.1:99999/", "1 to 65535"),
    ("json://169.254.169.254/latest/meta-data/", "cloud metadata"),
])
def test_the_channel_form_explains_each_refusal(app, client, reader, login, url, message):
    login(reader)
    response = client.post("/channels", data={"name": "Phone", "url": url, "csrf_token": csrf_token(client, "/channels")})
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    start = html.index('id="url-error"')
    assert message in html[start : html.index("</p>", start)]
    assert channel_count(app) == 0


METADATA_URLS = [
    "json://169.254.169.254/latest/meta-data/iam/security-credentials/",
    "json://169.254.170.2/v2/credentials",  # ECS task credentials
    "json://[fd00:ec2::254]/latest/meta-data/",
    "json://[::ffff:169.254.169.254]/latest/meta-data/",
    "json://[64:ff9b::a9fe:a9fe]/latest/meta-data/",  # NAT64
    "json://metadata.google.internal/computeMetadata/v1/",
    "json://METADATA.google.internal./computeMetadata/v1/",
    "json://100.100.100.200/latest/meta-data/",
    "json://168.63.129.16/machine",
    "form://[fe80::1]/hook",
    "mailto://u:p@example.com?smtp=169.254.169.254&to=x@example.com",
]


@pytest.mark.parametrize("url", METADATA_URLS)
def test_cloud_metadata_is_refused_even_with_private_targets_allowed(app, client, reader, bearer, url):
    assert app.config["ALLOW_PRIVATE_TARGETS"]
    response = client.post("/api/v1/integrations", json={"name": "x", "url": url}, headers=bearer(reader))
    assert "cloud metadata" in refused_url(response)
    assert channel_count(app) == 0


def test_cloud_metadata_is_refused_at_send_time_too(app, client, reader, bearer, http_sink):
    """A channel saved before the rule (or re-pointed by DNS) is refused when sent to."""
    hook = add_integration(client, bearer(reader), http_sink.url("/hook"))
    with app.app_context():
        db.session.get(Integration, hook["id"]).apprise_url_encrypted = cipher().encrypt(
            "json://169.254.169.254/latest/meta-data/"
        )
        db.session.commit()
        assert "cloud metadata" in send_test(db.session.get(User, reader.id), hook["id"])


@pytest.mark.parametrize("allow_private", [True, False])
def test_the_connection_resolver_drops_metadata_addresses(allow_private):
    async def resolve(host):
        resolver = GuardedResolver(allow_private=allow_private)
        try:
            return await resolver.resolve(host, 80)
        finally:
            await resolver.close()

    with pytest.raises(PrivateTargetRefused):
        asyncio.run(resolve("169.254.169.254"))
    if allow_private:
        assert asyncio.run(resolve("127.0.0.1"))[0]["host"] == "127.0.0.1"
