"""Web Push without Temporal: what a subscription must be, the transport against the fake push
service (which verifies the VAPID JWT and decrypts each payload as the browser would), the
device API's answers, the single-use answer token, and removing a device that is gone."""
import asyncio
import time
from datetime import timedelta

import pytest
from sqlalchemy import select

from soonish.crypto import FieldCipher
from soonish.domain.delivery import Courier, Destination, Failed, MailSettings, Message, PushSettings, RetryAfter, Sent
from soonish.domain.delivery import ledger, planning
from soonish.domain.delivery.transports import push as push_transport, webhook
from soonish.domain import outbox, push
from soonish.models import (
    Delivery, Event, Integration, Notification, NotificationKind, Rsvp, Subscription, SubscriptionSelector,
    SubscriptionStatus, User, db, utcnow,
)

from soonish.temporal.delivery.activities import DeliveryActivities

from bench.sink import Tally

from loopback import push_service
from loopback.push_service import TEST_VAPID_KEY
from loopback.sinks import wait_until

MAIL = MailSettings(sender="s@example.com")
PUSH = PushSettings(TEST_VAPID_KEY, "mailto:ops@soonish.test")
STARTS = "2031-06-20T18:00:00+00:00"


def message(kind: str = "announcement", **changes) -> Message:
    fields = dict(delivery_key="soonish-7", title="Doors open", text="Doors open at 7", short="Doors open at 7",
                  summary="Doors open at 7", extra={"kind": kind, "event_id": 3, "starts_at": STARTS,
                                                    "url": "http://soonish.test/e/launch"})
    return Message(**{**fields, **changes})


def subscription_of(device) -> push.PushSubscription:
    info = device.subscription()
    return push.check_subscription(info, allow_private=True)


# What a subscription must be ---------------------------------------------------------------

@pytest.mark.parametrize("change, field", [
    ({"endpoint": "not a url"}, "subscription.endpoint"),
    ({"endpoint": "ftp://push.example.com/x"}, "subscription.endpoint"),
    ({"endpoint": "https://push.example.com:99999/x"}, "subscription.endpoint"),
    ({"endpoint": "http://updates.push.services.mozilla.com/wpush/v2/x"}, "subscription.endpoint"),  # not https
    ({"endpoint": "https://127.0.0.1/push/x"}, "subscription.endpoint"),  # private address
    ({"endpoint": "https://localhost/push/x"}, "subscription.endpoint"),
    ({"endpoint": "https://169.254.169.254/latest"}, "subscription.endpoint"),  # cloud metadata
    ({"keys": {"p256dh": push.b64url_encode(b"\x04" + b"1" * 63), "auth": push.b64url_encode(b"a" * 16)}},
     "subscription.keys.p256dh"),  # 64 bytes
    ({"keys": {"p256dh": push.b64url_encode(b"\x05" + b"1" * 64), "auth": push.b64url_encode(b"a" * 16)}},
     "subscription.keys.p256dh"),  # not an uncompressed point
    ({"keys": {"p256dh": push.b64url_encode(b"\x04" + b"1" * 64), "auth": push.b64url_encode(b"a" * 15)}},
     "subscription.keys.auth"),
    ({"keys": {"p256dh": "!!not base64!!", "auth": push.b64url_encode(b"a" * 16)}}, "subscription.keys.p256dh"),
])
def test_a_subscription_that_cannot_be_a_channel_is_refused_naming_its_field(fake_push, change, field):
    good = {**fake_push.new_device().subscription(), "endpoint": "https://push.example.com/x"}
    with pytest.raises(push.SubscriptionRefused) as refused:
        push.check_subscription({**good, **change}, allow_private=False)
    assert refused.value.field == field


def test_a_browsers_subscription_is_kept_as_given(fake_push):
    device = fake_push.new_device()
    kept = subscription_of(device)
    assert kept.endpoint == device.endpoint and kept.p256dh == device.p256dh
    assert kept.origin == fake_push.origin and push.mask(kept) == "push://127.0.0.1"


@pytest.mark.parametrize("agent, label", [
    ("Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 Chrome/131.0 Mobile Safari/537.36", "Chrome on Android"),
    ("Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0", "Firefox on Linux"),
    ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 Version/17.4 Mobile/15E148 Safari/604.1",
     "Safari on iPhone"),
    ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/131.0 Safari/537.36 Edg/131.0", "Edge on Windows"),
    ("", "Browser (this device)"),
])
def test_a_device_is_named_after_its_browser_and_system(agent, label):
    assert push.device_label(agent) == label


# The transport against the fake push service ------------------------------------------------

async def deliver(subscription, *messages, courier_kwargs=None):
    async with Courier(MAIL, allow_private=True, push=PUSH, **(courier_kwargs or {})) as courier:
        return await asyncio.gather(*(courier.deliver(Destination(push=subscription), m) for m in messages))


async def test_a_push_is_signed_encrypted_and_decrypts_to_the_message_at_the_push_service(fake_push):
    device = fake_push.new_device()
    token = "signed-token"
    starts = (utcnow() + timedelta(hours=2)).isoformat()
    reminder = message("reminder", rsvp_event_id=3, answer_token=token)
    reminder = Message(**{**reminder.__dict__, "extra": {**reminder.extra, "starts_at": starts}})
    (outcome,) = await deliver(subscription_of(device), reminder)
    assert outcome == Sent(201)  # RFC 8030 §5: Created
    assert fake_push.refused == []
    (received,) = fake_push.received(device.token)
    assert received.payload["title"] == "Doors open" and received.payload["summary"] == "Doors open at 7"
    assert received.payload["starts_at"] == starts and received.payload["url"] == "http://soonish.test/e/launch"
    assert received.payload["actions"] == [{"action": "going", "title": "Going"}, {"action": "no", "title": "Can't go"}]
    assert received.payload["answer_token"] == token
    headers = received.headers
    assert headers["Urgency"] == "high" and headers["Topic"] == "soonish-3-reminder"
    # A reminder lives until its event starts, then has nothing left to say.
    assert 7000 < int(headers["TTL"]) <= 7200


async def test_a_push_speaks_its_readers_language_buttons_and_date_line_too(fake_push):
    device = fake_push.new_device()
    await deliver(subscription_of(device), message("reminder", rsvp_event_id=3, answer_token="t", locale="de",
                                                   title="Erinnerung: Launch beginnt in 1 Stunde"),
                  message("announcement", locale="ar"))
    german, arabic = sorted(fake_push.received(device.token), key=lambda p: p.payload["lang"] != "de")
    assert german.payload["title"] == "Erinnerung: Launch beginnt in 1 Stunde"
    assert german.payload["actions"] == [{"action": "going", "title": "Ich komme"},
                                         {"action": "no", "title": "Ich kann nicht"}]
    # The worker formats the start on the device, in this language, into this line.
    assert german.payload["when_line"] == "Wann: %(when)s" and german.payload["dir"] == "ltr"
    assert set(german.payload["answered"]) == {"going", "no", "confirm", "waitlisted", "saved", "failed"}
    assert arabic.payload["lang"] == "ar" and arabic.payload["dir"] == "rtl" and arabic.payload["answered"] is None


async def test_a_long_message_in_a_non_latin_script_is_cut_to_what_a_push_service_takes(fake_push):
    device = fake_push.new_device()
    words = "مرحبا بكم في الأمسية الشعرية \"الأولى\"\n" * 200  # two bytes a letter, and JSON escapes
    long = message("reminder", rsvp_event_id=3, answer_token="t" * 200, locale="ar", title="ت" * 200,
                   summary=words, short=words)
    body = push_transport.payload(long)
    assert len(body) <= push_transport.PAYLOAD_MAX
    (outcome,) = await deliver(subscription_of(device), long)
    assert outcome == Sent(201)
    (received,) = fake_push.received(device.token)
    # Whole letters in UTF-8, the organizer's words first, the short form in what is left.
    assert words.startswith(received.payload["summary"]) and len(received.payload["summary"].encode()) > 1400
    assert words.startswith(received.payload["text"]) and received.payload["text"]


async def test_the_still_coming_check_offers_its_own_answers_and_an_announcement_none(fake_push):
    device = fake_push.new_device()
    await deliver(subscription_of(device), message("still_coming", still_coming=True, answer_token="t"),
                  message("announcement", rsvp_event_id=3))
    check, announcement = sorted(fake_push.received(device.token), key=lambda p: p.payload["kind"] != "still_coming")
    assert [a["action"] for a in check.payload["actions"]] == ["confirm", "no"]
    assert announcement.payload["actions"] == [] and announcement.payload["answer_token"] is None
    assert announcement.headers["Urgency"] == "normal" and "Topic" not in announcement.headers


@pytest.mark.parametrize("status, retry_after, expected", [
    (404, None, Failed("{origin} answered HTTP 404: the device's subscription is gone", permanent=True, gone=True, http_status=404)),
    (410, None, Failed("{origin} answered HTTP 410: the device's subscription is gone", permanent=True, gone=True, http_status=410)),
    (413, None, Failed("{origin} answered HTTP 413: the message is too large for push", permanent=True, http_status=413)),
    (429, "600", RetryAfter(600.0, "{origin} answered HTTP 429", 429)),  # longer than a batch waits: handed back
    (400, None, Failed("{origin} answered HTTP 400", permanent=True, http_status=400)),
    (503, None, Failed("{origin} answered HTTP 503", http_status=503)),
])
async def test_the_push_services_answers_are_classified(fake_push, status, retry_after, expected):
    device = fake_push.new_device()
    fake_push.answers[device.token] = (status, retry_after)
    (outcome,) = await deliver(subscription_of(device), message())
    expected_reason = expected.reason.format(origin=fake_push.origin)
    assert outcome == type(expected)(**{**expected.__dict__, "reason": expected_reason})


async def test_a_push_service_that_hangs_is_cut_off_at_the_delivery_timeout_without_holding_the_others(
        fake_push, monkeypatch):
    monkeypatch.setattr(webhook, "HTTP_TIMEOUT_SECONDS", 1)  # the pool's timeout: 15 s in production
    hanging, live = fake_push.new_device(), fake_push.new_device()
    fake_push.answers[hanging.token] = "hang"
    began = time.monotonic()
    async with Courier(MAIL, allow_private=True, http=webhook.http_pool(True, 10), push=PUSH) as courier:
        async def timed(device):
            outcome = await courier.deliver(Destination(push=subscription_of(device)), message())
            return outcome, time.monotonic() - began
        (hung, hung_after), (sent, sent_after) = await asyncio.gather(timed(hanging), timed(live))
        await courier._http.close()
    assert sent == Sent(201) and sent_after < 1
    assert hung == Failed(f"{fake_push.origin} unreachable (TimeoutError)") and 1 <= hung_after < 3


async def test_a_push_taken_after_its_sender_gave_up_is_not_counted_as_answered_nor_its_resend_as_a_repeat(
        fake_push, monkeypatch):
    """The push benchmark's rule for "0 repeats": only a copy sent again after a 201 reached its
    sender is a repeat. A starved push service can take a request after the sender's timeout
    (the sender never got the 201 and sends it again, under the same delivery key)."""
    monkeypatch.setattr(webhook, "HTTP_TIMEOUT_SECONDS", 0.5)
    monkeypatch.setattr(push_service, "HANG_SECONDS", 1)
    device = fake_push.new_device()
    fake_push.answers[device.token] = "hang"
    async with Courier(MAIL, allow_private=True, http=webhook.http_pool(True, 10), push=PUSH) as courier:
        cut_off = await courier.deliver(Destination(push=subscription_of(device)), message())
        await asyncio.to_thread(wait_until, lambda: fake_push.received(device.token), message="the late push taken")
        del fake_push.answers[device.token]
        resent = await courier.deliver(Destination(push=subscription_of(device)), message())
        await courier._http.close()
    assert isinstance(cut_off, Failed) and not cut_off.permanent and resent == Sent(201)
    late, answered = fake_push.received(device.token)
    assert (late.answered, answered.answered) == (False, True)
    assert late.payload["delivery_key"] == answered.payload["delivery_key"] == "soonish-7"

    tally = Tally()
    for push_taken in (late, answered):
        tally.add(push_taken.payload["delivery_key"], 0, push_taken.answered)
    assert (tally.stats()["unique"], tally.stats()["repeats"], tally.stats()["late"]) == (1, 0, 1)
    tally.add(answered.payload["delivery_key"], 0)  # sent again after its 201: a repeat
    assert tally.stats()["repeats"] == 1


async def test_a_device_whose_key_is_not_a_curve_point_fails_for_good(fake_push):
    device = subscription_of(fake_push.new_device())
    off_curve = push.PushSubscription(device.endpoint, push.b64url_encode(b"\x04" + b"1" * 64), device.auth)
    (outcome,) = await deliver(off_curve, message())
    assert outcome == Failed("the device's push keys are unusable (ValueError)", permanent=True)
    assert fake_push.received() == []


async def test_without_a_vapid_key_nothing_is_pushed(fake_push):
    device = fake_push.new_device()
    async with Courier(MAIL, allow_private=True) as courier:
        outcome = await courier.deliver(Destination(push=subscription_of(device)), message())
    assert outcome == Failed("push is not set up here (no VAPID key)") and fake_push.received() == []


async def test_a_private_push_endpoint_is_refused_at_send_time_too(fake_push):
    async with Courier(MAIL, allow_private=False, push=PUSH) as courier:
        outcome = await courier.deliver(Destination(push=subscription_of(fake_push.new_device())), message())
    assert isinstance(outcome, Failed) and outcome.permanent and "private address" in outcome.reason


# The device API (anonymous and signed in) -----------------------------------------------------

@pytest.fixture
def push_app(domain_app):
    domain_app.config["VAPID_PRIVATE_KEY"] = TEST_VAPID_KEY
    return domain_app


@pytest.fixture
def rsvp_event(push_app, event) -> Event:
    event.rsvp_enabled = True
    db.session.commit()
    return event


def devices_url(event) -> str:
    return f"/api/v1/events/{event.id}/devices"


def test_the_public_key_is_the_one_browsers_subscribe_with(push_app, fake_push):
    client = push_app.test_client()
    assert client.get("/api/v1/push/key").get_json() == {"public_key": fake_push.vapid_public_key}
    push_app.config["VAPID_PRIVATE_KEY"] = ""
    assert client.get("/api/v1/push/key").status_code == 503


def test_notify_me_makes_the_device_a_channel_once_and_stop_ends_the_follow(push_app, rsvp_event, fake_push):
    client = push_app.test_client()
    device = fake_push.new_device()
    agent = {"User-Agent": "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0"}
    first = client.post(devices_url(rsvp_event), json={"subscription": device.subscription()}, headers=agent)
    assert first.status_code == 201, first.get_json()
    assert first.get_json()["device_name"] == "Firefox on Linux" and first.get_json()["status"] == "active"
    again = client.post(devices_url(rsvp_event), json={"subscription": device.subscription()}, headers=agent)
    assert again.status_code == 200 and again.get_json()["channel_id"] == first.get_json()["channel_id"]
    channel = db.session.scalar(select(Integration))
    assert channel.is_push and channel.url_mask == "push://127.0.0.1" and channel.user.email is None
    assert device.endpoint.encode() not in channel.push_subscription_encrypted  # kept encrypted
    subscription = db.session.scalar(select(Subscription))
    assert [s.integration_id for s in subscription.selectors] == [channel.id]
    # Its follow goes to the device: planned as a push, not to an address.
    targets = planning.targets_for(subscription, [channel])
    assert [t.key for t in targets] == [f"integration:{channel.id}"]

    stopped = client.post(f"{devices_url(rsvp_event)}/stop", json={"endpoint": device.endpoint})
    assert stopped.status_code == 204
    db.session.expire_all()
    assert db.session.get(Subscription, subscription.id).status == SubscriptionStatus.UNSUBSCRIBED
    assert client.post(f"{devices_url(rsvp_event)}/stop", json={"endpoint": device.endpoint}).status_code == 404


@pytest.mark.parametrize("subscription, field", [
    ({"endpoint": "https://push.example.com/x"}, "subscription.keys"),
    ({"endpoint": "", "keys": {"p256dh": "x", "auth": "y"}}, "subscription.endpoint"),
    ("just text", "subscription"),
])
def test_a_subscription_missing_its_parts_is_refused_by_the_schema(push_app, event, subscription, field):
    answer = push_app.test_client().post(devices_url(event), json={"subscription": subscription})
    assert answer.status_code == 422
    assert any(name.startswith(field) for name in answer.get_json()["error"]["fields"]), answer.get_json()


def test_bad_subscriptions_get_422_naming_the_field_and_nothing_is_written(push_app, event, fake_push):
    client = push_app.test_client()
    good = fake_push.new_device().subscription()
    short_key = {**good["keys"], "auth": push.b64url_encode(b"a" * 8)}
    cases = [
        ({**good, "endpoint": "https://exa mple.com/x"}, "subscription.endpoint"),
        ({**good, "keys": short_key}, "subscription.keys.auth"),
    ]
    for subscription, field in cases:
        answer = client.post(devices_url(event), json={"subscription": subscription})
        assert answer.status_code == 422 and field in answer.get_json()["error"]["fields"], answer.get_json()
    push_app.config["ALLOW_PRIVATE_TARGETS"] = False  # as in production
    for endpoint, why in (("http://push.example.com/x", "https"), (good["endpoint"].replace("http:", "https:"), "private address")):
        answer = client.post(devices_url(event), json={"subscription": {**good, "endpoint": endpoint}})
        assert answer.status_code == 422, answer.get_json()
        assert why in answer.get_json()["error"]["fields"]["subscription.endpoint"][0]
    assert db.session.scalar(select(Integration)) is None and db.session.scalar(select(Subscription)) is None


def test_a_signed_in_persons_device_is_theirs_and_joins_their_follow(push_app, event, fake_push):
    from flask_login import FlaskLoginClient
    person = User(email="ann@example.com", is_verified=True)
    db.session.add(person)
    db.session.commit()
    push_app.test_client_class = FlaskLoginClient
    client = push_app.test_client(user=person)
    csrf = _csrf(client)
    answer = client.post(devices_url(event), json={"subscription": fake_push.new_device().subscription()},
                         headers={"X-CSRFToken": csrf, "User-Agent": "Chrome/131.0 (Linux; Android 14)"})
    assert answer.status_code == 201, answer.get_json()
    channel = db.session.get(Integration, answer.get_json()["channel_id"])
    assert channel.user_id == person.id and channel.name == "Chrome on Android"


def test_notify_me_on_a_series_routes_its_occurrences_to_the_device_and_stop_ends_the_follow(push_app, fake_push):
    from soonish.services.series import SeriesFields, create_series
    organizer = User(email="organizer@example.com")
    db.session.add(organizer)
    db.session.commit()
    series = create_series(organizer, SeriesFields(title="Tuesday run", starts_at=utcnow() + timedelta(days=1),
                                                   rrule="FREQ=WEEKLY;COUNT=3", visibility="unlisted"))
    occurrences = db.session.scalars(select(Event).where(Event.series_id == series.id)).all()
    assert occurrences
    client = push_app.test_client()
    device = fake_push.new_device()
    url = f"/api/v1/series/by-slug/{series.slug}/devices"
    page = client.get(f"/series/{series.slug}").get_data(as_text=True)  # the page's box posts here
    assert f'data-follow-url="{url}"' in page and f'data-stop-url="{url}/stop"' in page
    first = client.post(url, json={"subscription": device.subscription()}, headers={"User-Agent": "Firefox/133.0 (X11; Linux)"})
    assert first.status_code == 201, first.get_json()
    assert first.get_json()["series_id"] == series.id and first.get_json()["device_name"] == "Firefox on Linux"
    again = client.post(url, json={"subscription": device.subscription()})
    assert again.status_code == 200 and again.get_json()["channel_id"] == first.get_json()["channel_id"]
    channel = db.session.get(Integration, first.get_json()["channel_id"])
    assert channel.is_push and channel.user.email is None
    subscriptions = db.session.scalars(select(Subscription).where(Subscription.user_id == channel.user_id)).all()
    assert {s.event_id for s in subscriptions} == {e.id for e in occurrences}
    for subscription in subscriptions:
        assert subscription.status == SubscriptionStatus.ACTIVE
        assert [t.key for t in planning.targets_for(subscription, [channel])] == [f"integration:{channel.id}"]
    assert client.post("/api/v1/series/by-slug/no-such-series/devices",
                       json={"subscription": device.subscription()}).status_code == 404

    assert client.post(f"{url}/stop", json={"endpoint": device.endpoint}).status_code == 204
    db.session.expire_all()
    assert {s.status for s in db.session.scalars(select(Subscription))} == {SubscriptionStatus.UNSUBSCRIBED}
    assert client.post(f"{url}/stop", json={"endpoint": device.endpoint}).status_code == 404


def test_a_signed_in_persons_two_devices_on_a_series_and_one_stopped(push_app, fake_push):
    from flask_login import FlaskLoginClient
    from soonish.services.series import SeriesFields, create_series
    person = User(email="ann@example.com", is_verified=True)
    db.session.add(person)
    db.session.commit()
    series = create_series(person, SeriesFields(title="Book club", starts_at=utcnow() + timedelta(days=1),
                                                rrule="FREQ=WEEKLY;COUNT=2"))
    push_app.test_client_class = FlaskLoginClient
    client = push_app.test_client(user=person)
    headers = {"X-CSRFToken": _csrf(client)}
    url = f"/api/v1/series/by-slug/{series.slug}/devices"
    phone, laptop = fake_push.new_device(), fake_push.new_device()
    channels = [client.post(url, json={"subscription": d.subscription()}, headers=headers).get_json()["channel_id"]
                for d in (phone, laptop)]
    # The occurrences followed with the phone gain the laptop too.
    subscriptions = db.session.scalars(select(Subscription).where(Subscription.user_id == person.id)).all()
    assert len(subscriptions) == 2 and all(sorted(s.integration_id for s in sub.selectors) == sorted(channels)
                                           for sub in subscriptions)
    assert client.post(f"{url}/stop", json={"endpoint": phone.endpoint}, headers=headers).status_code == 204
    db.session.expire_all()
    for subscription in db.session.scalars(select(Subscription)):
        assert subscription.status == SubscriptionStatus.ACTIVE
        assert [s.integration_id for s in subscription.selectors] == [channels[1]]


def _csrf(client) -> str:
    page = client.get("/").get_data(as_text=True)
    return page.split('name="csrf-token" content="', 1)[1].split('"', 1)[0]


# Answers from a notification's buttons ---------------------------------------------------------

def _device_follow(push_app, event, fake_push) -> tuple[Subscription, Delivery]:
    client = push_app.test_client()
    client.post(devices_url(event), json={"subscription": fake_push.new_device().subscription()})
    subscription = db.session.scalar(select(Subscription))
    notification = Notification(event_id=event.id, kind=NotificationKind.ANNOUNCEMENT, title="Doors", body="at 7")
    db.session.add(notification)
    db.session.flush()
    delivery = Delivery(notification_id=notification.id, subscription_id=subscription.id,
                        target=f"integration:{subscription.selectors[0].integration_id}", channel="push")
    db.session.add(delivery)
    db.session.commit()
    return subscription, delivery


def test_a_push_announcement_carries_a_signed_answer_token_for_its_delivery(push_app, rsvp_event, fake_push):
    subscription, _ = _device_follow(push_app, rsvp_event, fake_push)
    notification = Notification(event_id=rsvp_event.id, kind=NotificationKind.ANNOUNCEMENT, title="Hi", body="there")
    db.session.add(notification)
    db.session.commit()
    cipher = FieldCipher.from_setting("", push_app.config["SECRET_KEY"])
    plan = planning.prepare_batch(notification.id, subscription.id, subscription.id, cipher)
    (send,) = [s for s in plan.sends if s.destination.push is not None]
    assert send.destination.push.endpoint.startswith(fake_push.origin)
    claim = push.read_answer_token(push_app.config["SECRET_KEY"], send.message.answer_token, 60)
    assert claim == push.PushAnswer(send.delivery_id, rsvp_event.id, subscription.user_id, False)


def test_a_buttons_token_answers_the_rsvp_once(push_app, rsvp_event, fake_push):
    subscription, delivery = _device_follow(push_app, rsvp_event, fake_push)
    secret = push_app.config["SECRET_KEY"]
    token = push.answer_token(secret, push.PushAnswer(delivery.id, rsvp_event.id, subscription.user_id, False))
    client = push_app.test_client()
    assert client.post("/api/v1/push/answers", json={"token": token, "answer": "maybe"}).status_code == 422
    answered = client.post("/api/v1/push/answers", json={"token": token, "answer": "going"})
    assert answered.status_code == 200 and answered.get_json() == {"answer": "going"}
    assert db.session.scalar(select(Rsvp)).answer.value == "going"
    again = client.post("/api/v1/push/answers", json={"token": token, "answer": "no"})
    assert again.status_code == 409 and again.get_json()["error"]["fields"] == {"token": ["used"]}
    db.session.expire_all()
    assert db.session.scalar(select(Rsvp)).answer.value == "going"
    forged = client.post("/api/v1/push/answers", json={"token": token[:-2] + "xx", "answer": "going"})
    assert forged.status_code == 422 and "token" in forged.get_json()["error"]["fields"]


def test_an_answer_refused_leaves_the_token_unused(push_app, rsvp_event, fake_push):
    subscription, delivery = _device_follow(push_app, rsvp_event, fake_push)
    token = push.answer_token(push_app.config["SECRET_KEY"],
                              push.PushAnswer(delivery.id, rsvp_event.id, subscription.user_id, True))
    client = push_app.test_client()
    # Still coming? Nobody said going: nothing to confirm (409), and the token still works.
    assert client.post("/api/v1/push/answers", json={"token": token, "answer": "confirm"}).status_code == 409
    db.session.expire_all()
    assert db.session.get(Delivery, delivery.id).answered_at is None
    assert client.post("/api/v1/push/answers", json={"token": token, "answer": "no"}).status_code == 200


# A device whose push service says it is gone ---------------------------------------------------

def _device_following(event, owner: User, device, name: str, cipher: FieldCipher) -> Subscription:
    info = subscription_of(device)
    channel = Integration(user=owner, name=name, url_mask=push.mask(info),
                          push_subscription_encrypted=cipher.encrypt(info.to_json()),
                          push_endpoint_hash=push.endpoint_hash(info.endpoint))
    subscription = Subscription(event=event, user=owner)
    db.session.add_all([channel, subscription])
    db.session.flush()
    subscription.selectors = [SubscriptionSelector(integration_id=channel.id)]
    return subscription


def test_a_gone_device_is_removed_its_message_mailed_and_a_signed_in_owner_told(push_app, event, fake_push):
    owner = User(email="ann@example.com", is_verified=True, locale="fr")
    cipher = FieldCipher.from_setting("", push_app.config["SECRET_KEY"])
    first = _device_following(event, owner, fake_push.new_device(), "Chrome on Android", cipher)
    anonymous = _device_following(event, User(email=None), fake_push.new_device(), "Firefox on Linux", cipher)
    notification = Notification(event_id=event.id, kind=NotificationKind.ANNOUNCEMENT, title="Hi", body="there")
    db.session.add(notification)
    db.session.commit()
    group = planning.prepare_batch(notification.id, first.id, anonymous.id, cipher).sends
    gone = [ledger.SendOutcome(send.delivery_id, send.channel, Failed("x answered HTTP 410", permanent=True, gone=True))
            for send in group]

    # As a delivery batch records a group: in one transaction with the ledger.
    fallbacks, _paused, _held_next = DeliveryActivities(push_app)._record(group, gone, False, [notification.id] * len(group), None)

    db.session.expire_all()
    assert [f.destination.email for f in fallbacks] == ["ann@example.com"]  # the anonymous device has no address
    assert db.session.scalar(select(Integration)) is None
    assert db.session.scalar(select(SubscriptionSelector)) is None
    assert "fell back to email" in db.session.get(Delivery, group[0].delivery_id).last_error
    # The owner's notice is an outbox row of that transaction; the anonymous owner has none.
    claimed = outbox.claim()
    (notice,) = [mail for _item, mail in outbox.mails(claimed)]
    assert notice.address == "ann@example.com"
    assert notice.message.title == "Chrome on Android ne reçoit plus de notifications"  # in the owner's language
    assert "vous a été envoyé par e-mail" in notice.message.text
    # Told "gone" again (by another batch that sent to it meanwhile): nothing more to remove or tell.
    assert push.remove_gone(planning.gone_devices(list(zip(group, gone)))) == []
