"""The transports behind one interface, against real receivers on loopback (SMTP sink, the
Slack and Discord fakes), with no Temporal."""
import pytest

from soonish.domain.chat_markup import ChatPlatform
from soonish.domain.delivery import (
    ChatAddress, ChatSettings, Courier, Destination, Failed, MailSettings, Message, RetryAfter, Sent,
)
from soonish.domain.delivery.transports import TransportKind, registered_kinds, transport_class
from soonish.domain.delivery.transports.base import http_status_outcome

MESSAGE = Message(delivery_key="soonish-42", title="Doors open", text="Doors open at 7\n", short="Doors open at 7")


def test_every_kind_and_every_chat_platform_has_its_transport():
    assert registered_kinds() == set(TransportKind)
    for platform in ChatPlatform:
        assert transport_class(TransportKind(platform)).kind == platform


@pytest.mark.parametrize("status, retry_after, expected", [
    (200, None, Sent(200)),
    (302, None, Failed("h answered HTTP 302, a redirect (deliveries don't follow redirects)", True, 302)),
    (404, None, Failed("h answered HTTP 404", True, 404)),
    (408, None, Failed("h answered HTTP 408", False, 408)),
    (429, "30", RetryAfter(30.0, "h answered HTTP 429", 429)),
    (429, None, Failed("h answered HTTP 429", False, 429)),
    (503, "Wed, 21 Oct 2015 07:28:00 GMT", RetryAfter(0.0, "h answered HTTP 503", 503)),  # a date already past
    (500, None, Failed("h answered HTTP 500", False, 500)),
])
def test_an_http_answer_is_classified_once_for_every_http_transport(status, retry_after, expected):
    assert http_status_outcome("h", status, retry_after) == expected


async def test_mail_goes_out_with_its_delivery_key(smtp_sink):
    smtp_sink.clear()
    mail = MailSettings(sender="Soonish <soonish@example.com>", host="127.0.0.1", port=smtp_sink.port, starttls=False)
    async with Courier(mail, allow_private=True) as courier:
        assert await courier.deliver(Destination(email="ann@example.com"), MESSAGE) == Sent()
    (received,) = smtp_sink.wait_for(1)
    assert received["To"] == "ann@example.com" and received["Message-ID"] == "<soonish-42@example.com>"


async def test_slack_and_discord_posts_reach_the_person(fake_slack, fake_discord):
    chat = ChatSettings(slack_bot_token="xoxb-test", slack_api_url=fake_slack.api_url,
                        discord_bot_token="discord-test-token", discord_api_url=fake_discord.api_url)
    async with Courier(MailSettings(sender="s@example.com"), allow_private=True, chat=chat) as courier:
        assert await courier.deliver(Destination(chat=ChatAddress("slack", "U0ANN")), MESSAGE) == Sent()
        assert await courier.deliver(Destination(chat=ChatAddress("discord", "1001")), MESSAGE) == Sent()
    assert fake_slack.dms_to("U0ANN") == ["Doors open at 7"]
    assert fake_discord.dms_to("1001") == ["Doors open at 7"]


async def test_a_bot_without_its_token_fails_for_good_naming_the_platform(fake_slack):
    async with Courier(MailSettings(sender="s@example.com"), allow_private=True) as courier:
        outcome = await courier.deliver(Destination(chat=ChatAddress("discord", "1001")), MESSAGE)
    assert outcome == Failed("the Discord bot is not configured", permanent=True)


async def test_a_url_apprise_no_longer_understands_fails_for_good():
    async with Courier(MailSettings(sender="s@example.com"), allow_private=False) as courier:
        outcome = await courier.deliver(Destination(apprise_url="nosuchscheme://x"), MESSAGE)
        assert outcome == Failed("the channel's URL is no longer understood", permanent=True)
        refused = await courier.deliver(Destination(apprise_url="json://localhost:9/hook"), MESSAGE)
        assert isinstance(refused, Failed) and refused.permanent and "private address" in refused.reason
