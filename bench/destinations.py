#!/usr/bin/env python
"""Destination budgets benchmark: broadcasts to destinations that enforce their published
limits (bench/destination_fakes.py), end to end on the embedded stack with 2 workers sharing
their budgets through Redis.

    .venv/bin/python bench/destinations.py [--kinds slack_dm,slack_channel,slack_two_workspaces,discord_dm,webhook,smtp]
                                           [--quick] [--database-url postgresql+psycopg://…]
                                           [--redis-url redis://127.0.0.1:6379/0]

One kind at a time, each sized so that its limit-implied minimum (``floor_s``, the time the
fake's limits allow at best) is 30-90 s (``--quick``: a few seconds, to try it fast):

  slack_dm       DMs to N people: the fake's app-wide ceiling (5/s) is the limit.
  slack_channel  A announcements on each of E events, all followed by the same C channels,
                 posted in quick succession: each channel's 1/s (burst 3) is the limit.
  slack_two_workspaces  The same as slack_channel in two workspaces at once, each installed
                 with its own token: each workspace's channels at 1/s and its app ceiling (5/s)
                 are its own, so the two take no longer than one.
  discord_dm     DMs to N people (open the DM, then post: 2 requests): Discord's global 50/s.
  webhook        N webhooks spread over 5 hosts (127.0.0.1-5) at 100/s each.
  smtp           N mails; the server takes 50 per connection and 200/s (421 past either).

For each it seeds the recipients straight into the database, posts the announcement(s)
through the real API, waits until the fake has seen every delivery key, and reads the ledger.
``elapsed_s`` runs from the first announcement to the fake's last delivery. The workers are
configured as an operator would for these destinations (SMTP: 200/s and 50 per connection;
the rest: Soonish's defaults, which are the platforms' published limits). Then per kind:

RESULT destinations kind=<k> sent=<n> failed=<n> requests=<n> http_429=<n> elapsed_s=<x> floor_s=<x> ratio=<x>

``requests`` and ``http_429`` are counted at the fake (for SMTP: MAIL FROM commands and 421s);
lost and repeated delivery keys are printed above the RESULT lines.
"""
import argparse
import json
import math
import os
import sys
import tempfile
import time
import urllib.request
import uuid
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import redis  # noqa: E402
from sqlalchemy import func, select  # noqa: E402

from bench import destination_fakes as fakes  # noqa: E402
from bench.broadcast import parse_batches  # noqa: E402
from bench.stack import bench_organizer, cpu_seconds, machine_busy_seconds  # noqa: E402
from soonish.domain import chat_installations  # noqa: E402
from soonish.domain.chat_installations import InstalledBot  # noqa: E402
from soonish.services.integrations import cipher  # noqa: E402
from soonish.models import (  # noqa: E402
    ChatIdentity, Delivery, DeliveryStatus, Subscription, SubscriptionSelector, User, db,
)
from soonish.web import create_app  # noqa: E402
from loopback.processes import Child, ScratchDatabase, TemporalDevServer, start_worker, wait_for_port  # noqa: E402
from loopback.seeding import seed_subscribers  # noqa: E402
from loopback.sinks import free_port  # noqa: E402

KINDS = ["slack_dm", "slack_channel", "slack_two_workspaces", "discord_dm", "webhook", "smtp"]
FAKE_OF = {"slack_dm": "slack", "slack_channel": "slack", "slack_two_workspaces": "slack", "discord_dm": "discord",
           "webhook": "webhook", "smtp": "smtp"}
# Recipients per kind: full (floor 30-90 s) and --quick. slack_channel: (channels, events, announcements per event).
SIZES = {
    "slack_dm": (300, 40),
    "slack_channel": ((3, 5, 9), (3, 2, 4)),
    # Per workspace: (channels, events, announcements per event).
    "slack_two_workspaces": ((15, 3, 4), (5, 2, 2)),
    "discord_dm": (1500, 250),
    "webhook": (25000, 2500),
    "smtp": (10000, 1000),
}
WORKSPACE = "T0BENCH"
TWO_WORKSPACES = ("T0BENCHA", "T0BENCHB")
SEED_CHUNK = 1000


def fixed_window_floor(requests: int, per_second: int) -> float:
    """The least time ``requests`` take through a one-second fixed window of ``per_second``:
    the last one goes out at the start of its window."""
    return max(0, math.ceil(requests / per_second) - 1)


@dataclass
class Plan:
    kind: str
    recipients: int  # ledger rows expected
    floor: float
    events: int = 1
    announcements: int = 1  # per event


def plan(kind: str, quick: bool) -> Plan:
    size = SIZES[kind][1 if quick else 0]
    if kind == "slack_dm":
        return Plan(kind, size, fixed_window_floor(size, fakes.SLACK_APP_PER_SECOND))
    if kind in ("slack_channel", "slack_two_workspaces"):
        channels, events, per_event = size
        posts_per_channel = events * per_event
        # Each channel: a burst, then one a second; a workspace's channels together under its
        # app ceiling (each workspace has its own).
        floor = max((posts_per_channel - fakes.SLACK_BURST) / fakes.SLACK_CHANNEL_PER_SECOND,
                    fixed_window_floor(channels * posts_per_channel, fakes.SLACK_APP_PER_SECOND))
        workspaces = len(TWO_WORKSPACES) if kind == "slack_two_workspaces" else 1
        return Plan(kind, workspaces * channels * posts_per_channel, floor, events, per_event)
    if kind == "discord_dm":
        floor = max(fixed_window_floor(2 * size, fakes.DISCORD_GLOBAL_PER_SECOND),
                    fixed_window_floor(size, fakes.DISCORD_DM_OPEN_PER_SECOND))
        return Plan(kind, size, floor)
    if kind == "webhook":
        per_host = math.ceil(size / len(fakes.WEBHOOK_HOSTS))
        return Plan(kind, size, fixed_window_floor(per_host, fakes.WEBHOOK_PER_SECOND))
    # 50 per connection costs reconnects, not time the server makes us wait.
    return Plan(kind, size, fixed_window_floor(size, fakes.SMTP_PER_SECOND))


class Fake:
    def __init__(self, kind: str, logdir: Path) -> None:
        self.kind = kind
        self.port = free_port()
        self.stats_port = free_port() if kind == "smtp" else self.port
        args = [sys.executable, str(ROOT / "bench" / "destination_fakes.py"), kind, "--port", str(self.port)]
        if kind == "smtp":
            args += ["--stats-port", str(self.stats_port)]
        self.proc = Child(f"{kind}-fake", args, log_dir=logdir)
        wait_for_port(self.port, self.proc.process, self.proc.name)
        wait_for_port(self.stats_port, self.proc.process, self.proc.name)

    def _call(self, path: str, method: str = "GET") -> dict:
        request = urllib.request.Request(f"http://127.0.0.1:{self.stats_port}{path}", method=method)
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.loads(response.read())

    def stats(self) -> dict:
        return self._call("/_stats")

    def reset(self) -> None:
        self._call("/_reset", "POST")


def install_workspaces(app, workspaces: tuple[str, ...]) -> None:
    """Our Slack app installed in each workspace, each with its own bot token (as "Add to
    Slack" leaves them: encrypted)."""
    with app.app_context():
        for workspace in workspaces:
            chat_installations.save(InstalledBot("slack", workspace, f"Bench {workspace}",
                                                 bot_token=f"xoxb-{workspace}-bench"), cipher())
        db.session.commit()


def seed_chat(app, event_ids: list[int], platform: str, count: int, channels: bool,
              workspace: str = WORKSPACE) -> None:
    """``count`` chat identities (people, or channels) following every one of ``event_ids``."""
    kind = "channel" if channels else "user"
    with app.app_context():
        for start in range(0, count, SEED_CHUNK):
            identities = [
                ChatIdentity(platform=platform, workspace_id=workspace, kind=kind,
                             external_user_id=(f"C{i:08d}" if channels else f"U{i:08d}") if platform == "slack"
                             else str(300000000000000000 + i), user=User(display_name=f"{platform} {kind} {i}"))
                for i in range(start, min(start + SEED_CHUNK, count))
            ]
            db.session.add_all(identities)
            db.session.flush()
            for identity in identities:
                for event_id in event_ids:
                    db.session.add(Subscription(event_id=event_id, user_id=identity.user_id,
                                                selectors=[SubscriptionSelector(chat_identity_id=identity.id)]))
            db.session.commit()


def run_kind(kind: str, args, tmp: Path, temporal_port: int) -> dict:
    target = plan(kind, args.quick)
    fake = Fake(FAKE_OF[kind], tmp)
    database = ScratchDatabase(f"soonish_dest_{kind}", tmp, args.database_url)
    run_id = uuid.uuid4().hex[:8]
    budget_prefix = f"bench-{run_id}"
    config = {
        "SECRET_KEY": "bench-secret-" + "x" * 32,
        "DATABASE_URL": database.url,
        "TEMPORAL_ADDRESS": f"127.0.0.1:{temporal_port}",
        "TEMPORAL_NAMESPACE": "default",
        "TEMPORAL_TASK_QUEUE": f"bench-{run_id}",
        "TEMPORAL_ID_PREFIX": f"bench-{run_id}-",
        "PUBLIC_URL": "http://soonish.bench",
        "ALLOW_PRIVATE_TARGETS": True,
    }
    settings = {
        "BUDGET_REDIS_URL": args.redis_url, "BUDGET_KEY_PREFIX": budget_prefix,
        "SLACK_BOT_TOKEN": "xoxb-bench", "SLACK_API_URL": f"http://127.0.0.1:{fake.port}/api/",
        "DISCORD_BOT_TOKEN": "discord-bench-token", "DISCORD_API_URL": f"http://127.0.0.1:{fake.port}/api/v10",
        "SMTP_HOST": "127.0.0.1", "SMTP_PORT": fake.port if kind == "smtp" else 25, "SMTP_STARTTLS": "false",
        # What an operator sets for this mail server: its rate and its per-connection limit.
        "BUDGET_SMTP_HOST": f"{fakes.SMTP_PER_SECOND} per second",
        "SMTP_MESSAGES_PER_CONNECTION": fakes.SMTP_PER_CONNECTION,
    }
    app = create_app(config)
    workers: list[Child] = []
    try:
        headers = bench_organizer(app)
        for i in range(args.workers):
            workers.append(start_worker(config, f"{kind}-worker{i + 1}", tmp, **settings))
        client = app.test_client()
        starts = time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime(time.time() + 7 * 86400))
        event_ids = []
        for n in range(target.events):
            response = client.post("/api/v1/events", headers=headers, json={
                "title": f"Bench night {n + 1}", "starts_at": starts, "timezone": "Europe/Paris", "location": "Hall 2"})
            assert response.status_code == 201, response.get_json()
            event_ids.append(response.get_json()["id"])

        began = time.monotonic()
        if kind == "slack_channel":
            seed_chat(app, event_ids, "slack", SIZES[kind][1 if args.quick else 0][0], channels=True)
        elif kind == "slack_two_workspaces":
            install_workspaces(app, TWO_WORKSPACES)
            for workspace in TWO_WORKSPACES:
                seed_chat(app, event_ids, "slack", SIZES[kind][1 if args.quick else 0][0], channels=True,
                          workspace=workspace)
        elif kind in ("slack_dm", "discord_dm"):
            seed_chat(app, event_ids, kind.split("_")[0], target.recipients, channels=False)
        elif kind == "webhook":
            hosts = fakes.WEBHOOK_HOSTS
            seed_subscribers(app, event_ids[0], target.recipients,
                             webhook_url=lambda i: f"json://{hosts[i % len(hosts)]}:{fake.port}/r{i}")
        else:
            seed_subscribers(app, event_ids[0], target.recipients)
        print(f"  [{kind}] seeded {target.recipients} deliveries' recipients in {time.monotonic() - began:.1f}s",
              flush=True)
        for worker in workers:
            worker.wait_for_output("worker polling task queue")
        time.sleep(1)  # let both workers' pollers settle
        fake.reset()
        procs = {"fake": fake.proc, **{w.name.split("-", 1)[1]: w for w in workers}}
        cpu_before = {name: cpu_seconds(p.process.pid) for name, p in procs.items()}
        busy_before = machine_busy_seconds()

        t0 = time.time()
        notification_ids = []
        for _ in range(target.announcements):
            for event_id in event_ids:
                response = client.post(f"/api/v1/events/{event_id}/announcements", headers=headers,
                                       json={"title": "Doors open at 7", "body": "Bring a friend."})
                assert response.status_code == 201, response.get_json()
                notification_ids.append(response.get_json()["id"])

        last_change, last_delivered, stats = time.monotonic(), -1, {}
        while True:
            stats = fake.stats()
            if stats["unique"] >= target.recipients:
                break
            if stats["requests"] != last_delivered:
                last_delivered, last_change = stats["requests"], time.monotonic()
            elif time.monotonic() - last_change > args.stall_timeout:
                print(f"  [{kind}] stalled at {stats['unique']} delivered", flush=True)
                break
            time.sleep(0.5)
        wall = time.time() - t0
        cpu = {name: cpu_seconds(p.process.pid) - cpu_before[name] for name, p in procs.items()}
        busy = machine_busy_seconds() - busy_before

        with app.app_context():
            deadline = time.monotonic() + 60
            while True:
                db.session.expire_all()
                counts = dict(db.session.execute(
                    select(Delivery.status, func.count()).where(Delivery.notification_id.in_(notification_ids))
                    .group_by(Delivery.status)).all())
                if counts.get(DeliveryStatus.PENDING, 0) == 0 or time.monotonic() > deadline:
                    break
                time.sleep(0.5)
            waits, waited = db.session.execute(
                select(func.coalesce(func.sum(Delivery.waits), 0), func.coalesce(func.sum(Delivery.waited_seconds), 0))
                .where(Delivery.notification_id.in_(notification_ids))).one()
        stats = fake.stats()
        elapsed = (stats["last"] - t0) if stats["last"] else wall
        sent, failed = counts.get(DeliveryStatus.SENT, 0), counts.get(DeliveryStatus.FAILED, 0)
        batches = [b for w in workers for nid in notification_ids for b in parse_batches(w.log_path, nid)]
        lost = target.recipients - stats["unique"]
        print(f"  [{kind}] fake: {stats['requests']} requests, {stats['too_many']} refused (429/421: {stats['too_many_by']}), "
              f"{stats['unique']} delivery keys, {stats['repeats']} repeats, {lost} lost; "
              f"ledger: {sent} sent, {failed} failed, {counts.get(DeliveryStatus.PENDING, 0)} pending", flush=True)
        print(f"  [{kind}] where the time went: {elapsed:.1f}s to the last delivery (floor {target.floor:.0f}s); "
              f"sends waited {waits} times, {waited:.0f} send-seconds in all (sends wait side by side); "
              f"{len(batches)} batches, their send phases {sum(b['sends'] for b in batches):.1f} batch-s, "
              f"records {sum(b['records'] for b in batches):.1f} batch-s", flush=True)
        print(f"  [{kind}] CPU over {wall:.1f}s wall ({wall * (os.cpu_count() or 1):.0f} CPU-s on "
              f"{os.cpu_count()} cores): " + ", ".join(f"{name} {seconds:.1f}s" for name, seconds in cpu.items())
              + f", whole machine {busy:.1f}s (other helpers' work included)", flush=True)
        return {"kind": kind, "sent": sent, "failed": failed, "requests": stats["requests"],
                "http_429": stats["too_many"], "elapsed": elapsed, "floor": target.floor,
                "lost": lost, "repeats": stats["repeats"], "recipients": target.recipients}
    finally:
        for worker in workers:
            worker.stop()
        fake.proc.stop()
        with app.app_context():
            db.session.remove()
            db.engine.dispose()
        database.drop()
        store = redis.Redis.from_url(args.redis_url)
        keys = list(store.scan_iter(f"{budget_prefix}*"))
        if keys:
            store.delete(*keys)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--kinds", default=",".join(KINDS), help=f"comma-separated, of {', '.join(KINDS)}")
    parser.add_argument("--quick", action="store_true", help="small sizes (floors of a few seconds)")
    parser.add_argument("--database-url", default="",
                        help="a PostgreSQL server URL; the bench makes (and drops) its own database there")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/0", help="where the workers share budgets")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--stall-timeout", type=float, default=120, help="give up after this long with no request")
    parser.add_argument("--keep", action="store_true", help="keep the temp dir (logs, SQLite files)")
    args = parser.parse_args()
    kinds = [k.strip() for k in args.kinds.split(",") if k.strip()]
    unknown = set(kinds) - set(KINDS)
    if unknown:
        parser.error(f"unknown kinds: {', '.join(sorted(unknown))}")

    print(f"load average before: {' '.join(Path('/proc/loadavg').read_text().split()[:3])}", flush=True)
    tmp = Path(tempfile.mkdtemp(prefix="soonish-dest-"))
    results = []
    temporal = TemporalDevServer(log_path=tmp / "temporal.log").start()
    try:
        for kind in kinds:
            print(f"[{kind}] temporal on {temporal.port}; logs in {tmp}", flush=True)
            results.append(run_kind(kind, args, tmp, temporal.port))
    finally:
        temporal.stop()
        if not args.keep:
            import shutil
            shutil.rmtree(tmp, ignore_errors=True)
    print(f"load average after: {' '.join(Path('/proc/loadavg').read_text().split()[:3])}", flush=True)
    for r in results:
        ratio = r["elapsed"] / r["floor"] if r["floor"] else float("nan")
        print(f"RESULT destinations kind={r['kind']} sent={r['sent']} failed={r['failed']} requests={r['requests']} "
              f"http_429={r['http_429']} elapsed_s={r['elapsed']:.1f} floor_s={r['floor']:.1f} ratio={ratio:.2f}",
              flush=True)


if __name__ == "__main__":
    main()
