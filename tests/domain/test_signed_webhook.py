"""Outgoing webhooks as a transport, against a real HTTP receiver on loopback and no Temporal:
the signature an integrator verifies with ``standardwebhooks``, the headers, the answers
classified like every HTTP send; and the domain's attempt (``prepare_attempt`` → the worker's
Courier → ``record_attempt``): the attempt log's words, the retry and the disable rule."""
import json
from datetime import timedelta

import pytest
from standardwebhooks.webhooks import Webhook

from soonish.domain import outgoing_webhooks
from soonish.domain.delivery import Courier, Destination, Failed, MailSettings, Message, RetryAfter, Sent, SignedEndpoint
from soonish.domain.delivery.transports import webhook
from soonish.models import User, WebhookEndpoint, WebhookMessage, WebhookMessageStatus, db, utcnow

SECRET = "whsec_" + "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
ENVELOPE = {"type": "event.updated", "timestamp": "2026-12-06T09:00:00+00:00", "data": {"event": {"id": 7}}}
SIGNED = Message(delivery_key="msg_42", title="event.updated", text="", short="", extra=ENVELOPE)


async def send(url: str, allow_private: bool = True):
    async with Courier(MailSettings(sender="s@example.com"), allow_private) as courier:
        return await courier.deliver(Destination(signed_webhook=SignedEndpoint(url, SECRET)), SIGNED)


def raw_body(received) -> str:
    return json.dumps(received.body, separators=(",", ":"))  # the sink parsed our compact JSON


async def test_the_receiver_verifies_the_signature_with_standardwebhooks(http_sink):
    assert await send(http_sink.url("/hooks", scheme="http")) == Sent(200)
    (received,) = http_sink.delivered("/hooks")
    headers = {name.lower(): value for name, value in received.headers.items()}
    assert Webhook(SECRET).verify(raw_body(received), headers) == ENVELOPE  # raises unless it holds
    assert headers["webhook-id"] == "msg_42" and headers["content-type"] == "application/json"
    assert not {"idempotency-key", "authorization"} & set(headers)  # the spec's headers, no others of ours
    with pytest.raises(Exception):
        Webhook("whsec_" + "A" * 32).verify(raw_body(received), headers)


@pytest.mark.parametrize("status, retry_after, expected", [
    (410, None, Failed("http://127.0.0.1 answered HTTP 410", permanent=True, http_status=410)),
    (404, None, Failed("http://127.0.0.1 answered HTTP 404", permanent=True, http_status=404)),
    (429, "30", RetryAfter(30.0, "http://127.0.0.1 answered HTTP 429", 429)),
    (503, None, Failed("http://127.0.0.1 answered HTTP 503", http_status=503)),
    (500, None, Failed("http://127.0.0.1 answered HTTP 500", http_status=500)),
])
async def test_answers_are_classified_like_every_http_send(http_sink, status, retry_after, expected):
    http_sink.failing, http_sink.failing_status, http_sink.retry_after = range(1, 2), status, retry_after
    assert await send(http_sink.url("/hooks", scheme="http")) == expected
    assert len(http_sink.received) == 1  # one attempt: a Retry-After is not waited out in the send


async def test_a_receiver_slower_than_the_timeout_is_a_failure_to_retry(http_sink, monkeypatch):
    monkeypatch.setattr(webhook, "HTTP_TIMEOUT_SECONDS", 0.3)  # the pool's timeout, 15 s in earnest
    http_sink.delay = 1.0
    assert await send(http_sink.url("/hooks", scheme="http")) == Failed("http://127.0.0.1 unreachable (TimeoutError)")


# The domain's attempt: the steps the send_webhook activity takes, with the worker's Courier.


@pytest.fixture
def endpoint(domain_app, http_sink) -> WebhookEndpoint:
    owner = User(email="integrator@example.com")
    endpoint = WebhookEndpoint(user=owner, url=http_sink.url("/hooks", scheme="http"), event_types=["event.updated"],
                               secret_encrypted=outgoing_webhooks.cipher_for(domain_app.config).encrypt(SECRET))
    db.session.add(endpoint)
    db.session.commit()
    return endpoint


def message_of(endpoint: WebhookEndpoint, created_at=None) -> int:
    message = WebhookMessage(endpoint_id=endpoint.id, msg_id=outgoing_webhooks.new_message_id(),
                             event_type="event.updated", payload=ENVELOPE, created_at=created_at or utcnow())
    db.session.add(message)
    db.session.commit()
    return message.id


async def attempt(domain_app, message_id: int, next_attempt_at, allow_private: bool = True) -> bool:
    prepared = outgoing_webhooks.prepare_attempt(message_id, allow_private, domain_app.config)
    if prepared is None:
        return True
    if isinstance(prepared, Failed):
        outcome = prepared
    else:
        async with Courier(MailSettings(sender="s@example.com"), allow_private) as courier:
            outcome = await courier.deliver(*prepared)
    return outgoing_webhooks.record_attempt(message_id, next_attempt_at, outcome)


def attempts_of(message_id: int) -> list[tuple]:
    db.session.expire_all()
    return [(a.status_code, a.error, a.succeeded) for a in db.session.get(WebhookMessage, message_id).attempts]


async def test_an_attempt_is_logged_in_the_owners_words_and_retried_until_taken(domain_app, endpoint, http_sink):
    http_sink.failing = range(1, 2)
    message_id = message_of(endpoint)
    later = utcnow() + timedelta(minutes=5)
    assert await attempt(domain_app, message_id, later) is False
    assert db.session.get(WebhookMessage, message_id).status == WebhookMessageStatus.PENDING
    assert await attempt(domain_app, message_id, later) is True
    assert attempts_of(message_id) == [(503, "HTTP 503", False), (200, None, True)]
    assert db.session.get(WebhookMessage, message_id).status == WebhookMessageStatus.DELIVERED
    (_, delivered) = http_sink.received
    headers = {name.lower(): value for name, value in delivered.headers.items()}
    assert Webhook(SECRET).verify(raw_body(delivered), headers) == ENVELOPE


async def test_the_last_failed_attempt_of_a_window_disables_the_endpoint(domain_app, endpoint, http_sink):
    http_sink.failing, http_sink.failing_status = range(1, 10), 410  # gone: still retried, as before
    message_id = message_of(endpoint, created_at=utcnow() - timedelta(days=3))
    assert await attempt(domain_app, message_id, utcnow() + timedelta(hours=1)) is False
    assert await attempt(domain_app, message_id, None) is False
    assert attempts_of(message_id) == [(410, "HTTP 410", False)] * 2
    db.session.expire_all()
    assert db.session.get(WebhookMessage, message_id).status == WebhookMessageStatus.FAILED
    assert not endpoint.is_active and "every delivery since" in endpoint.disabled_reason
    next_message_id = message_of(endpoint)
    assert await attempt(domain_app, next_message_id, None) is True  # disabled: not sent
    assert attempts_of(next_message_id) == [(None, "The endpoint is disabled.", False)]
    assert len(http_sink.received) == 2


async def test_an_endpoint_on_a_private_address_is_refused_before_sending(domain_app, endpoint, http_sink):
    message_id = message_of(endpoint)
    assert await attempt(domain_app, message_id, utcnow() + timedelta(hours=1), allow_private=False) is False
    [(status, error, succeeded)] = attempts_of(message_id)
    assert (status, succeeded) == (None, False)
    assert error == "Refused: 127.0.0.1 resolves to a private address. Soonish only delivers to public hosts."
    assert http_sink.received == []
