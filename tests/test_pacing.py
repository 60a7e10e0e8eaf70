"""Per-destination budgets: a send told to wait waits and is sent once, Discord's bucket
headers are obeyed, two processes share one budget through Redis, and a refused bot token
stops the broadcast's sends on it."""
import asyncio
import json
import logging
import re
import subprocess
import sys
import time
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
import redis

from soonish.domain.delivery import ChatAddress, ChatSettings, Courier, Destination, MailSettings, Message, Sent
from soonish.domain.delivery.pacing import BudgetSettings, Pacer, SendPacing
from soonish.models import Delivery, DeliveryStatus, db
from soonish.temporal.delivery import activities as fanout

from .api_helpers import announce, create_event, follow_by_webhook
from loopback.seeding import follow_in_chat, seed_subscribers
from loopback.sinks import wait_until

REDIS_URL = "redis://127.0.0.1:6379/0"
ROOT = Path(__file__).resolve().parent.parent


def test_a_429_with_retry_after_waits_and_is_sent_once(app, client, make_user, bearer, worker, http_sink):
    organizer = bearer(make_user("host@example.com"))
    event = create_event(client, organizer)
    follow_by_webhook(client, bearer(make_user("ann@example.com")), event["id"], http_sink.url("/ann"))
    wait_until(lambda: len(http_sink.delivered()) == 1, message="the welcome message")
    http_sink.clear()
    http_sink.failing, http_sink.failing_status, http_sink.retry_after = range(1, 2), 429, "2"

    announce(client, organizer, event["id"], "Doors open at 7")

    wait_until(lambda: len(http_sink.delivered("/ann")) == 1, timeout=60, message="the announcement")
    with app.app_context():
        def recorded() -> Delivery | None:
            db.session.expire_all()
            row = db.session.query(Delivery).order_by(Delivery.id.desc()).first()
            return row if row.status == DeliveryStatus.SENT else None

        wait_until(recorded, timeout=60, message="the send recorded")
        row = recorded()
        # Sent on the first attempt: the wait was not a failure, and not a Temporal retry.
        assert (row.attempts, row.waits, row.last_error) == (1, 1, None)
        assert row.waited_seconds >= 1.5
        assert row.waiting_until is None
    first, second = http_sink.received
    assert (first.status, second.status) == (429, 200)
    assert (second.received_at - first.received_at).total_seconds() >= 1.9  # Retry-After: 2
    assert len(http_sink.received) == 2


MESSAGE = Message(delivery_key="soonish-7", title="Doors", text="Doors open\n", short="Doors open")
CHANNEL_ID = "700000000000000001"


def discord_courier(fake_discord, pacer: Pacer) -> Courier:
    chat = ChatSettings(discord_bot_token="discord-test-token", discord_api_url=fake_discord.api_url)
    return Courier(MailSettings(sender="s@example.com"), allow_private=True, chat=chat, pacer=pacer)


async def test_an_exhausted_discord_bucket_waits_for_its_reset(fake_discord):
    fake_discord.message_bucket = (1, 1.5)  # one message per channel per 1.5 s
    pacings = [SendPacing() for _ in range(3)]
    channel = Destination(chat=ChatAddress("discord", CHANNEL_ID, is_channel=True))
    async with discord_courier(fake_discord, Pacer()) as courier:
        outcomes = await asyncio.gather(*(courier.deliver(channel, MESSAGE, pacing) for pacing in pacings))
    assert outcomes == [Sent()] * 3
    statuses = [status for _, _, status in fake_discord.requests]
    assert statuses == [200, 200, 200]  # the headers were obeyed: never a 429
    arrivals = [at for _, at, _ in fake_discord.requests]
    assert all(later - earlier >= 1.4 for earlier, later in zip(arrivals, arrivals[1:])), arrivals
    assert sorted(p.waits for p in pacings) == [0, 1, 1]


async def test_a_discord_429_waits_its_retry_after_and_sends_once(fake_discord):
    fake_discord.message_bucket = (2, 1.0)
    # Another client of the same bot has just used up the channel's bucket.
    fake_discord._buckets[CHANNEL_ID] = (time.monotonic(), 2)
    pacing = SendPacing()
    channel = Destination(chat=ChatAddress("discord", CHANNEL_ID, is_channel=True))
    async with discord_courier(fake_discord, Pacer()) as courier:
        assert await courier.deliver(channel, MESSAGE, pacing) == Sent()
    assert [status for _, _, status in fake_discord.requests] == [429, 200]
    (_, refused_at, _), (_, sent_at, _) = fake_discord.requests
    assert sent_at - refused_at >= 0.5  # the JSON retry_after (fractional seconds) was waited out
    assert pacing.waits == 1 and pacing.waited_seconds > 0.5
    assert len(fake_discord.messages) == 1


def slack_courier(fake_slack, pacer: Pacer) -> Courier:
    chat = ChatSettings(slack_bot_token="xoxb-test", slack_api_url=fake_slack.api_url)
    return Courier(MailSettings(sender="s@example.com"), allow_private=True, chat=chat, pacer=pacer)


async def test_a_slack_429_slows_the_whole_app_not_only_its_channel(fake_slack):
    # Slack allows fewer posts than our app budget (5 a second): each DM is a channel of its own,
    # so only the app-wide budget can keep the others from meeting the same 429.
    fake_slack.post_limit = 2
    people = [Destination(chat=ChatAddress("slack", f"U{n:04d}")) for n in range(12)]
    async with slack_courier(fake_slack, Pacer()) as courier:
        outcomes = await asyncio.gather(*(courier.deliver(person, MESSAGE, SendPacing()) for person in people))
    assert outcomes == [Sent()] * 12
    assert len(fake_slack.posted) == 12
    # The first burst (5 at our budget) meets 3 refusals; then every budget holds for the
    # Retry-After and the app's goes at half its rate (14 of 26 posts were refused before).
    assert fake_slack.post_statuses.count(429) <= 4, fake_slack.post_statuses


def test_two_processes_share_one_budget_through_redis():
    prefix = f"test-budget-{uuid.uuid4().hex[:10]}"
    limit, per_process = 5, 10
    clients = [
        subprocess.Popen(
            [sys.executable, "-m", "tests.budget_client", REDIS_URL, prefix, f"{limit} per second", str(per_process)],
            cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        )
        for _ in range(2)
    ]
    try:
        for process in clients:
            assert process.stdout.readline().strip() == "ready"
        for process in clients:
            process.stdin.write("go\n")
            process.stdin.flush()
        turns = sorted(t for process in clients for t in json.loads(process.communicate(timeout=60)[0]))
    finally:
        for process in clients:
            process.kill()
        redis.Redis.from_url(REDIS_URL).delete(*redis.Redis.from_url(REDIS_URL).keys(f"{prefix}*") or ["-"])
    assert len(turns) == 2 * per_process
    # Never more than `limit` turns in any second, counting both processes together (a turn is
    # stamped just after it was granted, hence the small allowance).
    assert all(turns[i + limit] - turns[i] >= 0.9 for i in range(len(turns) - limit)), turns
    # Each process alone would have taken its 10 in about 1 s: together they took 20 at 5 a second.
    assert turns[-1] - turns[0] >= 2.9


@pytest.fixture
def one_at_a_time(chat_config):
    chat_config.update(DISCORD_BOT_TOKEN="revoked-token", DELIVERY_CONCURRENCY=1)
    return chat_config


def test_a_refused_token_stops_the_broadcasts_sends_on_it(one_at_a_time, app, client, make_user, bearer, worker,
                                                           fake_discord, caplog):
    organizer = bearer(make_user("host@example.com"))
    event = create_event(client, organizer)
    for n in range(3):
        follow_in_chat(app, "discord", "G1", f"10000000000000000{n}", [event["id"]])

    def welcomes_settled() -> bool:  # each follower's welcome met the refused token too
        with app.app_context():
            statuses = [status for (status,) in db.session.query(Delivery.status)]
        return len(statuses) == 3 and all(status == DeliveryStatus.FAILED for status in statuses)

    wait_until(welcomes_settled, timeout=60, message="the welcome messages settled")
    before = len(fake_discord.requests)
    caplog.clear()
    caplog.set_level(logging.WARNING)

    notification = announce(client, organizer, event["id"], "Doors open at 7")

    def announcement_rows() -> list[Delivery]:
        with app.app_context():
            rows = db.session.query(Delivery).filter(Delivery.notification_id == notification["id"]).all()
            db.session.expunge_all()
            return rows

    wait_until(lambda: len(announcement_rows()) == 3 and all(r.status == DeliveryStatus.FAILED for r in announcement_rows()),
               timeout=60, message="the announcement's sends marked failed")
    assert len(fake_discord.requests) - before == 1  # the first 401, then nothing more with that token
    reasons = sorted(r.last_error for r in announcement_rows())
    # Each DM would fall back to email (tests/test_email_fallback.py); these chat-only followers have none.
    assert reasons == [
        "Discord refused the bot's token (HTTP 401); not sent; no verified email to fall back to",
        "Discord refused the bot's token (earlier in this broadcast); not sent; no verified email to fall back to",
        "Discord refused the bot's token (earlier in this broadcast); not sent; no verified email to fall back to",
    ]
    told = [r for r in caplog.records if "refused the bot's token" in r.getMessage()
            and getattr(r, "broadcast", None) == str(notification["id"])]
    assert len(told) == 1
    assert all(r.attempts == 1 for r in announcement_rows())  # failed for good, not retried


def test_the_organizer_sees_a_send_waiting_for_a_rate_limit_instead_of_pending(
        app, client, make_user, bearer, login, worker, http_sink):
    host = make_user("host@example.com")
    organizer = bearer(host)
    event = create_event(client, organizer)
    follow_by_webhook(client, bearer(make_user("ann@example.com")), event["id"], http_sink.url("/ann"))
    wait_until(lambda: len(http_sink.delivered()) == 1, message="the welcome message")
    http_sink.clear()
    # 10 s: long enough to see the wait on the page (recorded as the wait begins), short enough not to idle.
    http_sink.failing, http_sink.failing_status, http_sink.retry_after = range(1, 2), 429, "10"
    notification = announce(client, organizer, event["id"], "Doors open at 7")
    login(host)
    path = f"/events/{event['id']}/messages/{notification['id']}"

    waiting = re.compile(r"waiting for 127\.0\.0\.1&#39;s rate limit \(≈(\d+) s left\)")
    wait_until(lambda: waiting.search(client.get(path).get_data(as_text=True)), timeout=30,
               message="the page showing the wait")
    page = client.get(path).get_data(as_text=True)
    assert 1 <= int(waiting.search(page).group(1)) <= 10
    assert '">Pending</span>' not in page  # the row says why it waits, not just "Pending"

    wait_until(lambda: len(http_sink.delivered("/ann")) == 1, timeout=60, message="the announcement after the wait")
    wait_until(lambda: 'data-status="sent"' in client.get(path).get_data(as_text=True), timeout=30,
               message="the send recorded")
    assert not waiting.search(client.get(path).get_data(as_text=True))


async def test_with_redis_unreachable_budgets_fall_back_to_the_process_and_say_so(caplog):
    pacer = Pacer(BudgetSettings(storage_url="redis://127.0.0.1:1/0"))  # nothing listens there
    budget = pacer.budget("host:example.org", "2 per second", "example.org")
    try:
        began = time.monotonic()
        for _ in range(3):
            await pacer.wait_turn([budget])
        assert time.monotonic() - began >= 0.9  # still paced: the third waited for the window
    finally:
        await pacer.close()
    unreachable = [r for r in caplog.records if "Redis unreachable" in r.getMessage()]
    assert len(unreachable) == 1


@pytest.fixture
def slow_host(app_config):
    app_config.update(BUDGET_WEBHOOK_HOST="2 per second", DELIVERY_CONCURRENCY=2)
    return app_config


def test_a_batch_paced_past_its_sending_window_hands_the_rest_back_and_each_is_sent_once(
        slow_host, app, client, make_user, bearer, worker, http_sink, monkeypatch, caplog):
    monkeypatch.setattr(fanout, "BATCH_SENDING_WINDOW", timedelta(seconds=1))
    organizer = bearer(make_user("host@example.com"))
    event = create_event(client, organizer)
    seed_subscribers(app, event["id"], 8, webhook_url=lambda i: http_sink.url(f"/r{i}"))
    notification = announce(client, organizer, event["id"], "Doors open at 7")

    def recorded() -> list[Delivery]:
        with app.app_context():
            rows = db.session.query(Delivery).filter(Delivery.notification_id == notification["id"]).all()
            db.session.expunge_all()
            return rows

    wait_until(lambda: len(recorded()) == 8 and all(r.status == DeliveryStatus.SENT for r in recorded()),
               timeout=60, message="all eight sent")
    assert sorted(r.path for r in http_sink.delivered()) == sorted(f"/r{i}" for i in range(8))
    # Handed back, not failed: every send was made once, on one try of its own.
    assert all(r.attempts == 1 for r in recorded())
    handed_back = [r for r in caplog.records if "will be retried" in str(getattr(r, "exc_info", "") or "")
                   or "will be retried" in r.getMessage()]
    assert handed_back, "the batch never reached its sending window"
