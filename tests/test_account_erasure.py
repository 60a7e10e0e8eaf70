"""Delete my account, export my data, forget my address: through the real pages and API, a real
worker delivering to the SMTP and HTTP sinks, and Temporal's real reminder schedules."""
import re
import uuid

import pytest
from sqlalchemy import JSON, String, text

from soonish.models import (
    ChatIdentity, Delivery, Event, EventStatus, PendingChatAction, Subscription, SubscriptionStatus, User, db,
)
from soonish.services.erasure import erase

from .api_helpers import add_integration, announce, create_event, follow_by_webhook, future_iso, subscribe
from .conftest import PASSWORD, csrf_token
from loopback.sinks import HttpSink, wait_until
from .temporal_helpers import wait_for_outbox_drained, wait_for_schedules

LINK = re.compile(r"http://soonish\.test(/\S+)")


def links_in(mail) -> list[str]:
    return LINK.findall(mail.get_body(preferencelist=("plain",)).get_content())


def raw_count(app, sql: str, **params) -> int:
    """Straight from the table, past the models: what the database really holds."""
    with app.app_context():
        return db.session.execute(text(sql), params).scalar()


def user_row(app, user_id: int) -> User:
    with app.app_context():
        user = db.session.get(User, user_id)
        db.session.expunge(user)
        return user


@pytest.fixture
def organizer_with_history(app, client, make_user, bearer, worker, smtp_sink, http_sink, harness, temporal_env):
    """An organizer with an upcoming event that two people follow (by mail and by webhook), who
    follows someone else's event by mail with a 1-hour reminder, and has a channel and a chat
    identity of their own."""
    organizer = make_user("organizer@example.com")
    headers = bearer(organizer)
    own = create_event(client, headers, title="Own meetup")
    mail_follower, hook_follower = make_user("reader@example.com"), make_user("hooked@example.com")
    subscribe(client, bearer(mail_follower), own["id"])
    follow_by_webhook(client, bearer(hook_follower), own["id"], http_sink.url("/hook"))
    other = create_event(client, bearer(make_user("host@example.com")), title="Someone else's talk")
    subscribe(client, headers, other["id"], reminder_offsets=[3600])
    wait_for_schedules(harness, temporal_env, app, other["id"], {3600})
    add_integration(client, headers, "json://127.0.0.1:9/private-hook?token=secret")
    with app.app_context():
        db.session.add(ChatIdentity(platform="slack", workspace_id="T1", external_user_id="U1", user_id=organizer.id))
        db.session.commit()
    # Welcomes: reader and the organizer by mail, the hooked follower by webhook.
    smtp_sink.wait_for(2)
    wait_until(lambda: len(http_sink.delivered("/hook")) == 1, message="webhook welcome")
    return organizer, headers, own, other


def test_delete_account_by_api_cancels_notifies_and_erases(app, client, organizer_with_history, smtp_sink,
                                                           http_sink, harness, temporal_env):
    organizer, headers, own, other = organizer_with_history
    wrong = client.delete("/api/v1/me", json={"password": "not it"}, headers=headers)
    assert wrong.status_code == 422 and "password" in wrong.get_json()["error"]["fields"]
    assert client.delete("/api/v1/me", json={}, headers=headers).status_code == 422

    assert client.delete("/api/v1/me", json={"password": PASSWORD}, headers=headers).status_code == 204

    # Upcoming events are cancelled, and their followers told on their channels.
    with app.app_context():
        assert db.session.get(Event, own["id"]).status == EventStatus.CANCELLED
    wait_until(lambda: any("Cancelled: Own meetup" in (m["Subject"] or "") for m in smtp_sink.to("reader@example.com")),
               message="cancel notice by mail")
    wait_until(lambda: len(http_sink.delivered("/hook")) == 2, message="cancel notice by webhook")
    assert "Cancelled: Own meetup" in str(http_sink.delivered("/hook")[-1].body)

    # Channels and chat identities are gone from the tables themselves.
    assert raw_count(app, "SELECT count(*) FROM integrations WHERE user_id = :id", id=organizer.id) == 0
    assert raw_count(app, "SELECT count(*) FROM chat_identities WHERE user_id = :id", id=organizer.id) == 0
    # The ledger keeps the organizer's rows (counts) without the address.
    with app.app_context():
        mine = db.session.query(Delivery).join(Subscription).filter(Subscription.user_id == organizer.id).all()
        assert mine and all(d.target.startswith("erased:email:") for d in mine)
        assert db.session.query(Subscription).filter_by(user_id=organizer.id).one().status == SubscriptionStatus.UNSUBSCRIBED
    assert raw_count(app, "SELECT count(*) FROM deliveries WHERE target LIKE '%organizer@example.com%'") == 0
    assert raw_count(app, "SELECT count(*) FROM users WHERE email = 'organizer@example.com'") == 0
    # The event they followed loses the reminder schedule only they needed.
    wait_for_schedules(harness, temporal_env, app, other["id"], set())
    # Their token stops working, and signing in again is impossible.
    assert client.get("/api/v1/me/export", headers=headers).status_code == 401
    assert app.test_client().post("/api/v1/auth/token", json={"email": "organizer@example.com",
                                                               "password": PASSWORD}).status_code == 401

    # Erasing again changes nothing.
    before = user_row(app, organizer.id)
    with app.app_context():
        erase(db.session.get(User, organizer.id))
    assert user_row(app, organizer.id).token_epoch == before.token_epoch


def test_delete_account_from_the_account_page_with_password_or_mailed_link(app, client, make_user, login, worker,
                                                                           smtp_sink):
    user = make_user("leaver@example.com")
    login(user)
    page = client.get("/account").get_data(as_text=True)
    assert "Delete my account" in page and "Download my data" in page

    wrong = client.post("/account/delete", data={"del-password": "nope", "csrf_token": csrf_token(client, "/account")})
    assert wrong.status_code == 422 and "That isn&#39;t your password." in wrong.get_data(as_text=True)
    assert user_row(app, user.id).erased_at is None

    # Without the password: a link by mail.
    assert client.post("/account/delete/email", data={"csrf_token": csrf_token(client, "/account")}).status_code == 302
    mail = smtp_sink.wait_for(1)[0]
    path = next(p for p in links_in(mail) if p.startswith("/account/delete/"))
    confirm_page = client.get(path)
    assert confirm_page.status_code == 200 and user_row(app, user.id).erased_at is None  # GET only asks
    done = client.post(path, data={"csrf_token": csrf_token(client, path)})
    assert done.status_code == 302
    assert user_row(app, user.id).erased_at is not None
    assert client.get("/account").status_code == 302  # signed out
    reused = app.test_client().get(path)
    assert reused.status_code == 404


def test_delete_account_with_the_password_form(app, client, make_user, login):
    user = make_user()
    login(user)
    done = client.post("/account/delete", data={"del-password": PASSWORD, "csrf_token": csrf_token(client, "/account")})
    assert done.status_code == 302
    erased = user_row(app, user.id)
    assert erased.erased_at is not None and erased.email is None and erased.password_hash is None


def test_export_has_the_account_events_follows_channels_and_messages(app, client, make_user, bearer, worker,
                                                                      http_sink, login):
    user = make_user("me@example.com")
    headers = bearer(user)
    organized = create_event(client, headers, title="My own event")
    followed = create_event(client, bearer(make_user()), title="A followed event")
    hook_url = http_sink.url("/mine") + "?token=s3cret"
    follow_by_webhook(client, headers, followed["id"], hook_url, reminder_offsets=["2h", 600])
    wait_until(lambda: len(http_sink.delivered("/mine")) == 1, message="welcome by webhook")
    wait_until(lambda: raw_count(app, "SELECT count(*) FROM deliveries WHERE status = 'sent'") == 1,
               message="the welcome recorded")

    data = client.get("/api/v1/me/export", headers=headers).get_json()
    assert data["account"]["email"] == "me@example.com"
    assert [e["title"] for e in data["events_organized"]] == [organized["title"]]
    (follow,) = data["follows"]
    assert follow["event_id"] == followed["id"] and follow["reminder_offsets"] == [7200, 600]
    (channel,) = data["channels"]
    assert channel["url"] == hook_url  # decrypted, for its owner
    (message,) = data["messages_received"]
    assert message["title"] == "You're following A followed event" and message["status"] == "sent"
    assert set(data) >= {"account", "events_organized", "follows", "channels", "messages_received"}

    login(user)
    download = client.get("/account/export")
    assert download.status_code == 200 and "attachment" in download.headers["Content-Disposition"]
    assert download.get_json()["channels"][0]["url"] == hook_url
    assert app.test_client().get("/api/v1/me/export").status_code == 401


def test_forget_my_address_is_in_every_mail_to_an_email_follower_and_works_by_post_only(app, client, make_user,
                                                                                       bearer, worker, smtp_sink):
    event = create_event(client, bearer(make_user("host@example.com")), title="Book club")
    page = f"/e/{event['slug']}"
    client.post(f"{page}/subscribe", data={"email": "reader@example.com", "csrf_token": csrf_token(client, page)})
    confirm_mail = smtp_sink.wait_for(1)[0]
    assert any(p.startswith("/s/forget/") for p in links_in(confirm_mail))
    client.get(next(p for p in links_in(confirm_mail) if p.startswith("/s/confirm/")))
    welcome = smtp_sink.wait_for(2)[1]
    forget = next(p for p in links_in(welcome) if p.startswith("/s/forget/"))
    assert "Forget my address" in welcome.get_body(preferencelist=("html",)).get_content()

    asked = client.get(forget)
    assert asked.status_code == 200 and "Forget reader@example.com?" in asked.get_data(as_text=True)
    with app.app_context():
        follower = db.session.query(User).filter_by(email="reader@example.com").one()
        follower_id = follower.id
    done = app.test_client().post(forget)  # from a mail client: no session, no CSRF token
    assert done.status_code == 200 and "Your address is forgotten" in done.get_data(as_text=True)
    assert raw_count(app, "SELECT count(*) FROM users WHERE email = 'reader@example.com'") == 0
    with app.app_context():
        assert db.session.get(User, follower_id).erased_at is not None
        assert db.session.query(Subscription).filter_by(user_id=follower_id).one().status == SubscriptionStatus.UNSUBSCRIBED
    assert client.post(forget).status_code == 200  # twice: still forgotten
    assert client.get("/s/forget/forged-token").status_code == 404


def test_account_holders_mails_carry_no_forget_link(app, client, make_user, bearer, worker, smtp_sink):
    event = create_event(client, bearer(make_user("host@example.com")), title="Talk")
    subscribe(client, bearer(make_user("member@example.com")), event["id"])
    welcome = smtp_sink.wait_for(1)[0]
    assert not any(p.startswith("/s/forget/") for p in links_in(welcome))


# What erasing a person must leave nowhere: their addresses, their name, their channels' URLs
# and hosts. "localhost" is the host of the person's own receiver (a second sink, reached by
# that name so it differs from every other row's 127.0.0.1).
PERSON_EMAIL, SECOND_ADDRESS, PERSON_NAME = "zelda@example.com", "zelda.second@example.com", "Zelda Erasmus"
PERSON_CHANNEL_HOST = "localhost"


def text_columns_holding(app, needles: list[str]) -> dict[str, list[str]]:
    """Every text and JSON column of every table, read by raw SQL: "table.column" -> the needles
    found in it."""
    found: dict[str, list[str]] = {}
    with app.app_context():
        for table in db.metadata.sorted_tables:
            for column in table.columns:
                if not isinstance(column.type, (String, JSON)):
                    continue
                values = db.session.execute(
                    text(f'SELECT CAST("{column.name}" AS TEXT) FROM "{table.name}"')  # noqa: S608 (metadata names)
                ).scalars()
                held = {needle for value in values if value for needle in needles if needle in value}
                if held:
                    found[f"{table.name}.{column.name}"] = sorted(held)
    return found


def started_by(app) -> str:
    """The visibility query for every workflow this test's app started (its id prefix)."""
    return f'WorkflowId STARTS_WITH "{app.config["TEMPORAL_ID_PREFIX"]}"'


def temporal_payloads_holding(harness, temporal_env, app, needles: list[str]) -> dict[str, list[str]]:
    """Every workflow this test's app started, with the needles found anywhere in its history
    (inputs, activity inputs and results, failures: payloads hold their JSON as is)."""
    client = temporal_env.client

    async def scan() -> dict[str, list[str]]:
        found = {}
        async for execution in client.list_workflows(started_by(app)):
            history = await client.get_workflow_handle(execution.id, run_id=execution.run_id).fetch_history()
            events = b"".join(event.SerializeToString() for event in history.events)
            held = [needle for needle in needles if needle.encode() in events]
            if held:
                found[execution.id] = held
        return found

    return harness.run(scan())


def test_erasure_leaves_the_person_in_no_table_and_no_workflow_history(app, client, make_user, bearer, worker,
                                                                      smtp_sink, http_sink, harness, temporal_env):
    """A person with channels (a webhook to their own host, a second address), follows, an RSVP,
    an outgoing webhook endpoint, idempotent answers, a failed delivery and the organizer's
    webhook messages about them deletes their account: then no text or JSON column of any table
    holds their addresses, name, channel URL or host (the README's kept rows hold hashes), and no
    Temporal history of theirs holds them either."""
    receiver = HttpSink(failing=range(1, 10**6), failing_status=410).start()  # their endpoint says "gone"
    try:
        organizer = make_user("host@example.com")
        organizer_headers = bearer(organizer)
        hook = client.post("/api/v1/webhook-endpoints", headers=organizer_headers, json={
            "url": http_sink.url("/organizer-hook", scheme="http"), "event_types": ["rsvp.changed", "delivery.failed"]})
        assert hook.status_code == 201, hook.get_json()
        meetup = create_event(client, organizer_headers, title="Meetup")
        talk = create_event(client, organizer_headers, title="Talk")

        person = make_user(PERSON_EMAIL)
        with app.app_context():
            db.session.get(User, person.id).display_name = PERSON_NAME
            # A Slack link with an event creation waiting for its Confirm (what /soonish new holds).
            identity = ChatIdentity(platform="slack", workspace_id="T1", external_user_id="U1", user_id=person.id,
                                    handle="zelda_chat")
            db.session.add(identity)
            db.session.flush()
            db.session.add(PendingChatAction(chat_identity_id=identity.id, action="create", payload={
                "title": f"{PERSON_NAME}'s birthday", "starts_at": future_iso(3), "timezone": "UTC"}))
            db.session.commit()
        headers = bearer(person)
        keyed = {**headers, "Idempotency-Key": str(uuid.uuid4())}
        channel_url = f"json://{PERSON_CHANNEL_HOST}:{receiver.port}/zelda-hook?token=zelda-secret"
        channel = client.post("/api/v1/integrations", headers=keyed, json={"name": "mine", "url": channel_url})
        assert channel.status_code == 201, channel.get_json()
        second = client.post("/api/v1/integrations", headers={**headers, "Idempotency-Key": str(uuid.uuid4())},
                             json={"type": "email", "fields": {"address": SECOND_ADDRESS}})
        assert second.status_code == 201, second.get_json()
        endpoint = client.post("/api/v1/webhook-endpoints", headers={**headers, "Idempotency-Key": str(uuid.uuid4())},
                               json={"url": f"http://{PERSON_CHANNEL_HOST}:{receiver.port}/zelda-endpoint",
                                     "event_types": ["subscription.created"]})
        assert endpoint.status_code == 201, endpoint.get_json()
        api_key = client.post("/api/v1/api-keys", headers={**headers, "Idempotency-Key": str(uuid.uuid4())},
                              json={"name": "zelda's script", "scopes": ["events:read"]})
        assert api_key.status_code == 201, api_key.get_json()
        subscribe(client, headers, meetup["id"], selectors=[{"integration_id": channel.get_json()["id"]}])
        subscribe(client, headers, talk["id"])
        assert client.put(f"/api/v1/events/{meetup['id']}/rsvp", headers=headers,
                          json={"answer": "going"}).status_code == 200
        assert client.post("/api/v1/auth/password-reset", json={"email": PERSON_EMAIL}).status_code == 202
        announce(client, organizer_headers, meetup["id"], "Doors at seven")

        # Mails to both addresses (the talk's welcome, the channel's verification, the reset link),
        # and the organizer told of the RSVP and of the announcement that failed at the person's host.
        wait_until(lambda: len(smtp_sink.to(SECOND_ADDRESS)) == 1 and len(smtp_sink.to(PERSON_EMAIL)) == 2,
                   message="the person's mails")
        wait_until(lambda: {"rsvp.changed", "delivery.failed"} <= {
            r.body.get("type") for r in http_sink.delivered("/organizer-hook") if isinstance(r.body, dict)
        }, timeout=60, message="the organizer's webhook messages about the person")
        before = text_columns_holding(app, [PERSON_EMAIL, SECOND_ADDRESS, PERSON_NAME, PERSON_CHANNEL_HOST])
        assert {"webhook_messages.payload", "deliveries.last_error", "users.email"} <= set(before), before
        # One-off mails never reach Temporal (the drain mails them): their rows are done, and
        # the outbox keeps no address once a mail is sent.
        wait_for_outbox_drained(app)

        assert client.delete("/api/v1/me", json={"password": PASSWORD}, headers=headers).status_code == 204

        needles = [PERSON_EMAIL, SECOND_ADDRESS, PERSON_NAME, PERSON_CHANNEL_HOST, "zelda-hook", "zelda-secret",
                   "zelda-endpoint", "zelda_chat", endpoint.get_json()["secret"], api_key.get_json()["key"]]
        # The idempotency records' stored answers (second address, endpoint URL and secret,
        # API key) included: erasure forgets them too.
        left = text_columns_holding(app, needles)
        assert left == {}, f"personal data left after erasure: {left}"
        # The organizer's log still shows the messages, without the person in them.
        messages = client.get(f"/api/v1/webhook-endpoints/{hook.get_json()['id']}/messages",
                              headers=organizer_headers).get_json()["items"]
        by_type = {m["event_type"]: m["payload"]["data"] for m in messages}
        assert by_type["rsvp.changed"]["follower"] == "a deleted account"
        assert by_type["delivery.failed"]["reason"] == "http://[erased host] answered HTTP 410"

        assert temporal_payloads_holding(harness, temporal_env, app, needles) == {}
    finally:
        receiver.stop()
