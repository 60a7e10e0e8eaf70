"""Web Push end to end: a browser's subscription followed through the API, the real Temporal
worker delivering to the fake push service (which checks the VAPID JWT and decrypts every
payload as the browser would), a notification button answering the RSVP, and a device its push
service says is gone removed."""
import pytest
from sqlalchemy import select

from soonish.models import Delivery, DeliveryStatus, Integration, Rsvp, db

from .api_helpers import announce, create_event
from loopback.push_service import TEST_VAPID_KEY
from loopback.sinks import wait_until


@pytest.fixture
def app_config(app_config):
    return {**app_config, "VAPID_PRIVATE_KEY": TEST_VAPID_KEY, "VAPID_SUBJECT": "mailto:ops@soonish.test"}


def titles(fake_push, device) -> list[str]:
    return [p.payload["title"] for p in fake_push.received(device.token)]


def test_a_device_follows_gets_its_pushes_answers_from_a_button_and_is_removed_when_gone(
        app, client, organizer, worker, fake_push):
    event = create_event(client, organizer)
    assert client.put(f"/api/v1/events/{event['id']}/rsvp-settings", json={"enabled": True},
                      headers=organizer).status_code == 200
    device = fake_push.new_device()
    followed = client.post(f"/api/v1/events/{event['id']}/devices", json={"subscription": device.subscription()},
                           headers={"User-Agent": "Mozilla/5.0 (Linux; Android 14) Chrome/131.0 Mobile"})
    assert followed.status_code == 201, followed.get_json()

    wait_until(lambda: titles(fake_push, device) == ["You're following Launch party"], message="the welcome push")
    announce(client, organizer, event["id"], "Doors open at 7", "Bring a friend")
    wait_until(lambda: "Doors open at 7" in titles(fake_push, device), message="the announcement push")
    assert fake_push.refused == []
    pushed = next(p for p in fake_push.received(device.token) if p.payload["title"] == "Doors open at 7")
    assert pushed.payload["summary"] == "Bring a friend" and pushed.payload["url"].endswith(f"/e/{event['slug']}")
    assert [a["action"] for a in pushed.payload["actions"]] == ["going", "no"]

    # The notification's "Going" button, as the service worker sends it: no cookie, the token.
    answered = app.test_client().post("/api/v1/push/answers",
                                      json={"token": pushed.payload["answer_token"], "answer": "going"})
    assert answered.status_code == 200 and answered.get_json() == {"answer": "going"}
    with app.app_context():
        assert db.session.scalar(select(Rsvp)).answer.value == "going"

    # The browser unsubscribed: its push service answers 410 Gone, and the channel goes.
    fake_push.answers[device.token] = (410, None)
    announce(client, organizer, event["id"], "Parking is full")
    with app.app_context():
        wait_until(lambda: db.session.scalar(select(Integration)) is None, message="the gone device removed")
        failed = db.session.scalars(select(Delivery).where(Delivery.status == DeliveryStatus.FAILED)).all()
        assert len(failed) == 1 and "410" in failed[0].last_error
