"""Channel fallback (issue 15.2): a chat DM that fails for good (Slack's cannot_dm_bot or
user_not_found, Discord's 403 code 50007) goes once to the person's verified email instead,
recorded in the ledger as "fell back to email"; unless they turned fallback off or have no
verified email, when the DM stays failed with the reason. Real worker and Temporal dev server,
the fake Slack and Discord APIs answering as their docs say, mail at the SMTP sink."""
import re

import pytest

from soonish.crypto import FieldCipher
from soonish.domain.delivery import planning
from soonish.models import ChatIdentity, Delivery, DeliveryStatus, Subscription, User, db
from soonish.services import chat, subscriptions

from .api_helpers import announce, create_event, reports
from .chat_fakes import GUILD, TEAM
from .conftest import csrf_token
from loopback.sinks import wait_until

SLACK_PERSON, DISCORD_PERSON = "U0CLOSED", "700000000000000007"


@pytest.fixture
def organizer(make_user, bearer):
    return bearer(make_user("host@example.com"))


def follow_by_dm(app, user: User, platform: str, workspace_id: str, external_id: str, event_id: int,
                 verified: bool = True) -> None:
    """``user`` links a chat account and follows the event in its DMs (``verified``: their
    email is proven)."""
    with app.test_request_context():
        person = db.session.get(User, user.id)
        person.is_verified = verified
        identity = ChatIdentity(platform=platform, workspace_id=workspace_id, external_user_id=external_id,
                                user_id=person.id)
        db.session.add(identity)
        db.session.commit()
        subscriptions.subscribe(person, event_id, selectors=[chat.route_to(identity)])


def mails(smtp_sink, address: str, subject: str):
    return [m for m in smtp_sink.to(address) if m["Subject"] == subject]


def ledger_of(app, event_id: int, user_id: int, notification_id: int) -> dict[str, tuple[str, str | None]]:
    """target -> (status, last_error) of one person's deliveries of one notification."""
    with app.app_context():
        rows = db.session.query(Delivery).join(Subscription, Subscription.id == Delivery.subscription_id).filter(
            Delivery.notification_id == notification_id, Subscription.user_id == user_id,
            Subscription.event_id == event_id)
        return {d.target: (d.status.value, d.last_error) for d in rows}


def settled(app, client, organizer, event_id: int, notification_id: int, deliveries: int) -> dict:
    """The organizer's report of the message once its ``deliveries`` are all done (watched in
    the ledger: polling the API would meet its rate limit)."""
    def done() -> bool:
        with app.app_context():
            statuses = [d.status for d in db.session.query(Delivery).filter_by(notification_id=notification_id)]
        return len(statuses) == deliveries and DeliveryStatus.PENDING not in statuses

    wait_until(done, timeout=60, message="the message settled")
    return next(r for r in reports(client, organizer, event_id) if r["notification"]["id"] == notification_id)


def test_a_dm_that_cannot_reach_the_person_falls_back_to_their_email_once(
    chat_config, app, client, make_user, bearer, organizer, worker, fake_slack, fake_discord, smtp_sink
):
    event = create_event(client, organizer, title="Picnic")
    ada, bob = make_user("ada@example.com"), make_user("bob@example.com")
    fake_slack.refused_dms[SLACK_PERSON] = "cannot_dm_bot"
    fake_discord.closed_dms.add(DISCORD_PERSON)
    follow_by_dm(app, ada, "slack", TEAM, SLACK_PERSON, event["id"])
    follow_by_dm(app, bob, "discord", GUILD, DISCORD_PERSON, event["id"])

    note = announce(client, organizer, event["id"], "Doors open at 7")
    report = settled(app, client, organizer, event["id"], note["id"], deliveries=4)

    for person, dm_target, refusal in (
        (ada, f"slack:{TEAM}:{SLACK_PERSON}", "Slack answered cannot_dm_bot"),
        (bob, f"discord:{GUILD}:{DISCORD_PERSON}", "Discord answered HTTP 403"),
    ):
        (mail,) = mails(smtp_sink, person.email, "Doors open at 7")
        # Its own key, from the notification, the person and "fallback": a rerun can't mail twice.
        key = planning.fallback_delivery_key(note["id"], person.id)
        assert mail["X-Soonish-Delivery"] == key and mail["Message-ID"].startswith(f"<{key}@")
        assert ledger_of(app, event["id"], person.id, note["id"]) == {
            dm_target: ("failed", f"{refusal}; fell back to email"),
            planning.FALLBACK_TARGET: ("sent", None),
        }
    assert fake_slack.posted == [] and fake_discord.messages == []
    assert report["counts"] == {"sent": 2, "failed": 2, "pending": 0, "skipped": 0, "suppressed": 0}
    assert {failure["reason"] for failure in report["failures"]} == {
        "Slack answered cannot_dm_bot; fell back to email", "Discord answered HTTP 403; fell back to email"}
    # The organizer's list of who got it says so too.
    listed = client.get(f"/api/v1/events/{event['id']}/notifications/{note['id']}/deliveries", headers=organizer)
    assert sorted(row["last_error"] or "" for row in listed.get_json()["items"]) == [
        "", "", "Discord answered HTTP 403; fell back to email", "Slack answered cannot_dm_bot; fell back to email"]

    # The batch run again (a retry) finds every send of it done: nothing is mailed twice.
    with app.app_context():
        subscription_ids = [s.id for s in db.session.query(Subscription).filter_by(event_id=event["id"])]
        cipher = FieldCipher.from_setting(app.config["ENCRYPTION_KEYS"], app.config["SECRET_KEY"])
        plan = planning.prepare_batch(note["id"], min(subscription_ids), max(subscription_ids), cipher)
    assert plan.sends == [] and plan.already_sent == 2
    # A worker that died after claiming a fallback mail, before sending it: the retry sends it, once.
    with app.app_context():
        db.session.query(Delivery).filter_by(notification_id=note["id"], target=planning.FALLBACK_TARGET) \
            .filter(Delivery.subscription_id == min(subscription_ids)).update({"status": DeliveryStatus.PENDING})
        db.session.commit()
        (resent,) = planning.prepare_batch(note["id"], min(subscription_ids), max(subscription_ids), cipher).sends
    assert resent.destination.email == ada.email and resent.channel == "email"
    assert resent.message.delivery_key == planning.fallback_delivery_key(note["id"], ada.id)


def test_with_fallback_off_or_no_verified_email_the_dm_fails_with_the_reason(
    chat_config, app, client, make_user, bearer, organizer, worker, fake_slack, smtp_sink
):
    event = create_event(client, organizer, title="Picnic")
    cy, dee = make_user("cy@example.com"), make_user("dee@example.com")
    # Cy turns fallback off through the API; Dee never proved her address.
    cy_headers = bearer(cy)
    assert client.get("/api/v1/me/settings", headers=cy_headers).get_json() == {"email_fallback": True, "locale": None}
    changed = client.patch("/api/v1/me/settings", json={"email_fallback": False}, headers=cy_headers)
    assert changed.status_code == 200 and changed.get_json() == {"email_fallback": False, "locale": None}
    fake_slack.refused_dms.update({"U0CY": "user_not_found", "U0DEE": "cannot_dm_bot"})
    follow_by_dm(app, cy, "slack", TEAM, "U0CY", event["id"])
    follow_by_dm(app, dee, "slack", TEAM, "U0DEE", event["id"], verified=False)

    note = announce(client, organizer, event["id"], "Doors open at 7")
    report = settled(app, client, organizer, event["id"], note["id"], deliveries=2)

    assert report["counts"] == {"sent": 0, "failed": 2, "pending": 0, "skipped": 0, "suppressed": 0}
    assert ledger_of(app, event["id"], cy.id, note["id"]) == {
        f"slack:{TEAM}:U0CY": ("failed", "Slack answered user_not_found; email fallback is turned off")}
    assert ledger_of(app, event["id"], dee.id, note["id"]) == {
        f"slack:{TEAM}:U0DEE": ("failed", "Slack answered cannot_dm_bot; no verified email to fall back to")}
    assert mails(smtp_sink, cy.email, "Doors open at 7") == [] and mails(smtp_sink, dee.email, "Doors open at 7") == []


def fallback_checkbox(client) -> str:
    page = client.get("/account").get_data(as_text=True)
    return re.search(r'<input[^>]*name="fb-email_fallback"[^>]*>', page).group(0)


def test_the_setting_is_validated_and_on_the_account_page(client, make_user, bearer, login):
    user = make_user()
    headers = bearer(user)
    refused = client.patch("/api/v1/me/settings", json={"email_fallback": "sometimes"}, headers=headers)
    assert refused.status_code == 422 and "email_fallback" in str(refused.get_json())
    assert client.patch("/api/v1/me/settings", json={}, headers=headers).status_code == 422
    assert client.get("/api/v1/me/settings").status_code == 401

    login(user)
    assert "checked" in fallback_checkbox(client)
    saved = client.post("/account/email-fallback", data={"csrf_token": csrf_token(client, "/account")})
    assert saved.status_code == 302
    assert client.get("/api/v1/me/settings", headers=headers).get_json() == {"email_fallback": False, "locale": None}
    assert "checked" not in fallback_checkbox(client)
