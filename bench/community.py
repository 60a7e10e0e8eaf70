#!/usr/bin/env python
"""Community benchmark: a community with N followers (half "follow every new event", half "tell
me about new events") creates a public event; every follower gets one mail about it.

    .venv/bin/python bench/community.py [--followers 10000]
                                        [--database-url postgresql+psycopg://postgres@127.0.0.1:5432/test]

What runs: as bench/broadcast.py, its own Temporal dev server, SQLite in a temp dir (or a scratch
PostgreSQL database, dropped afterwards), two ``soonish worker`` processes and the lean SMTP sink
(bench/sink.py) in its own process. The followers are seeded straight into the database; the
community and the event are made through the real API. The update-coalescing window is 0 here:
in production a new event waits it out (UPDATE_COALESCE_SECONDS) before anyone is told, and this
measures what follows it: the outbox row's fan-out (N subscriptions made, one notification), the
event workflow's batches, the ledger and the sends.

Prints the time from the event's creation to the last follower's mail at the sink, the
subscriptions made for the "every new event" half, and the mails the sink saw once each over
those expected; its LAST line is ``RESULT community followers=… new_event_to_last_message_s=…
auto_subscribed=… messages=got/expected``.
"""
import argparse
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sqlalchemy import func, insert, select  # noqa: E402

from soonish.models import (  # noqa: E402
    CommunityFollow, FollowMode, Subscription, SubscriptionStatus, User, db, utcnow,
)
from soonish.web import create_app  # noqa: E402
from loopback.processes import ScratchDatabase, TemporalDevServer, start_worker  # noqa: E402

from bench.stack import SINK_BUDGETS, bench_organizer, start_sink  # noqa: E402

CHUNK = 1000


def seed_followers(app, community_id: int, count: int) -> None:
    """``count`` active followers: the even ones follow every new event, the odd ones are told."""
    with app.app_context():
        now = utcnow()
        for start in range(0, count, CHUNK):
            numbers = range(start, min(start + CHUNK, count))
            user_ids = db.session.execute(insert(User).returning(User.id), [
                {"email": f"follower{i}@example.com", "display_name": "", "is_verified": True, "created_at": now}
                for i in numbers]).scalars().all()
            db.session.execute(insert(CommunityFollow), [
                {"community_id": community_id, "user_id": user_id, "status": SubscriptionStatus.ACTIVE,
                 "mode": FollowMode.EVERY_EVENT if i % 2 == 0 else FollowMode.NEW_EVENTS, "selectors": [],
                 "created_at": now, "confirmed_at": now}
                for i, user_id in zip(numbers, user_ids)])
            db.session.commit()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--followers", type=int, default=10_000)
    parser.add_argument("--database-url", default="",
                        help="a PostgreSQL server URL; the bench makes (and drops) its own database there")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--stall-timeout", type=float, default=120, help="give up after this long with no progress")
    args = parser.parse_args()

    load = Path("/proc/loadavg").read_text().split()[:3]
    tmp = Path(tempfile.mkdtemp(prefix="soonish-bench-community-"))
    started = []
    database = None
    try:
        temporal = TemporalDevServer(log_path=tmp / "temporal.log").start()
        started.append(temporal)
        sink = start_sink("smtp", tmp)
        started.append(sink.proc)
        database = ScratchDatabase("soonish_bench_community", tmp, args.database_url)
        run_id = uuid.uuid4().hex[:8]
        config = {
            "SECRET_KEY": "bench-secret-" + "x" * 32, "DATABASE_URL": database.url,
            "TEMPORAL_ADDRESS": f"127.0.0.1:{temporal.port}", "TEMPORAL_NAMESPACE": "default",
            "TEMPORAL_TASK_QUEUE": f"bench-{run_id}", "TEMPORAL_ID_PREFIX": f"bench-{run_id}-",
            "PUBLIC_URL": "http://soonish.bench", "SMTP_HOST": "127.0.0.1", "SMTP_PORT": sink.port,
            "SMTP_STARTTLS": False, "MAIL_FROM": "Soonish <no-reply@soonish.bench>", "ALLOW_PRIVATE_TARGETS": True,
            "UPDATE_COALESCE_SECONDS": 0,
        }
        app = create_app(config)
        headers = bench_organizer(app)
        client = app.test_client()
        response = client.post("/api/v1/communities", headers=headers, json={"name": "Bench Club", "slug": "bench-club"})
        assert response.status_code == 201, response.get_json()
        community_id = response.get_json()["id"]
        t = time.monotonic()
        seed_followers(app, community_id, args.followers)
        print(f"seeded {args.followers} followers in {time.monotonic() - t:.1f}s; logs in {tmp}", flush=True)

        mail = {"SMTP_HOST": "127.0.0.1", "SMTP_PORT": sink.port, "SMTP_STARTTLS": "false",
                "MAIL_FROM": config["MAIL_FROM"], "UPDATE_COALESCE_SECONDS": "0"}
        workers = [start_worker(config, f"community-worker{i + 1}", tmp, **SINK_BUDGETS, **mail)
                   for i in range(args.workers)]
        started += workers
        for worker in workers:
            worker.wait_for_output("worker polling task queue")
        time.sleep(1)
        sink.reset()

        starts = time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime(time.time() + 7 * 86400))
        t0 = time.time()
        response = client.post("/api/v1/events", headers=headers, json={
            "title": "Bench night", "starts_at": starts, "timezone": "Europe/Paris", "community_id": community_id})
        assert response.status_code == 201, response.get_json()
        event_id = response.get_json()["id"]

        sink.wait_for(args.followers, args.stall_timeout)
        arrivals = sink.arrivals()
        elapsed = (max(arrivals.values()) - t0) if arrivals else float("nan")
        time.sleep(2)  # a late repeat would show in the count
        stats = sink.stats()
        with app.app_context():
            auto = db.session.scalar(select(func.count()).select_from(Subscription).where(
                Subscription.event_id == event_id, Subscription.status == SubscriptionStatus.ACTIVE,
                Subscription.community_follow_id.is_not(None)))
        print(f"load average before: {' '.join(load)}; after: {' '.join(Path('/proc/loadavg').read_text().split()[:3])}")
        print(f"mails received {stats['count']}, unique {stats['unique']}, repeats {stats['repeats']}")
        once = stats["unique"] if stats["repeats"] == 0 else stats["unique"] - stats["repeats"]
        print(f"RESULT community followers={args.followers} new_event_to_last_message_s={elapsed:.1f} "
              f"auto_subscribed={auto} messages={once}/{args.followers}", flush=True)
    finally:
        for process in reversed(started):
            process.stop()
        if database is not None:
            database.drop()


if __name__ == "__main__":
    main()
