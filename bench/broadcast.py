#!/usr/bin/env python
"""Broadcast benchmark: one announcement to N subscribers, end to end, on the embedded stack.

    .venv/bin/python bench/broadcast.py [--subscribers 10000] [--mode webhook|email|both|push]
                                        [--bounce-rate 0.04]  (email with dead mailboxes: bench/bounces.py)
                                        [--database-url postgresql+psycopg://postgres@127.0.0.1:5432/test]
                                        [--old-ledger 1000000] [--languages 6]

What runs: its own Temporal dev server (the ``temporal`` binary beside this Python), SQLite in a
temp dir (or a scratch database created on the given PostgreSQL server and dropped afterwards,
so the test suite's database is never touched), two ``soonish worker`` processes, and lean sinks
in their own processes (bench/sink.py: aiohttp for json:// webhooks, aiosmtpd for mail).

For each mode it seeds N subscribers straight into the database, creates the event and posts
one announcement through the real API (Flask test client → service → Temporal signal), and
times announcement → the last recipient's receipt at the sink, then checks the ledger shows all
N sent and the sink saw each delivery key once. Against the same sink, in the same run, it then
measures the raw limit: a pooled aiohttp client posting N bodies of the same size (webhooks),
or one smtplib connection sending N mails of the same size (email). It prints the table, then
where the time went: the ledger's timeline, per-batch timings from the workers' logs, and the
CPU each process used during the broadcast (2 cores: CPU, not waiting, is the usual limit).

``--mode push`` runs webhook, then push: N browsers' subscriptions (each a P-256 key pair and
auth secret) at the tests' fake push service (loopback/push_service.py, in its own process), which
verifies every request's VAPID JWT and decrypts every payload; its end-to-end rate is compared
with the webhook mode's of the same run (``ratio_to_webhook``: encryption costs an ECDH per
message on each side). It has no raw client of its own.

With ``--old-ledger N`` it then seeds N delivery rows of an event that ended 120 days ago and
broadcasts twice more: once alone, once while the workers run the ledger retention prune
(RetentionWorkflow, as the soonish-retention schedule starts it) over those rows, and prints
both rates and how many old rows the prune removed meanwhile (issue 16: within 10%).

``--languages N`` runs the webhook broadcast twice in one run: every subscriber reading English,
then the subscribers spread round-robin over N shipped languages (``subscriptions.locale``), and
prints both rates and their ratio (issue 29: N languages within 10% of one; fan-out renders the
message once per language in each batch, not once per reader).
"""
import argparse
import asyncio
import json
import os
import re
import signal
import smtplib
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import aiohttp  # noqa: E402
from sqlalchemy import func, select, update  # noqa: E402

from soonish.domain.delivery import Message, compose_mail  # noqa: E402
from soonish.domain.messages import NotificationText, RecipientLinks  # noqa: E402
from soonish.domain.push import new_vapid_key, vapid_public_key  # noqa: E402
from soonish.models import (  # noqa: E402
    Delivery, DeliveryStatus, Event, EventStatus, Notification, NotificationKind, Subscription, User, db, utcnow,
)
from soonish.services.temporal import gateway  # noqa: E402
from soonish.temporal.retention.types import LedgerPruneRound  # noqa: E402
from soonish.temporal.retention.workflow import RetentionWorkflow  # noqa: E402
from soonish.temporal.events.types import event_workflow_id  # noqa: E402
from temporalio.client import Client  # noqa: E402
from soonish.web import create_app  # noqa: E402
from loopback.seeding import seed_subscribers  # noqa: E402

from loopback.processes import Child, ScratchDatabase, TemporalDevServer, start_worker  # noqa: E402
from loopback.push_service import Device  # noqa: E402

from bench.stack import ROOT, SINK_BUDGETS, Sink, bench_organizer, cpu_seconds, machine_busy_seconds, start_sink  # noqa: E402

RAW_HTTP_CONCURRENCY = 50  # the Courier's default pool size
PUSH_DEVICE_SEED = "soonish-bench"  # the push sink makes the same devices from it
PUSH_VAPID_KEY = new_vapid_key()
BATCH_LINE = re.compile(
    r"batch (\d+)-(\d+) of notification (\d+): (\d+) sent, (\d+) failed, (\d+) retrying, (\d+) already sent; "
    r"prepare ([\d.]+)s, sends ([\d.]+)s, records ([\d.]+)s, total ([\d.]+)s"
)


@dataclass
class ModeResult:
    mode: str
    n: int
    e2e_seconds: float | None = None
    received: int = 0
    unique: int = 0
    repeats: int = 0
    ledger_sent: int = 0
    ledger_seconds: float | None = None
    raw_seconds: float | None = None
    raw_received: int = 0
    worker_peak_rss_mb: float | None = None  # the largest VmHWM among the worker processes
    history_events: int | None = None  # the EventWorkflow run's history length after the broadcast
    analysis: list[str] = field(default_factory=list)
    prune: list[str] = field(default_factory=list)  # --old-ledger: the rates with and without a prune
    refused: int = 0  # push: requests the fake push service refused (a bad JWT, a payload that won't decrypt)
    late: int = 0  # copies the sink took after their sender's timeout (sent again rightly; not repeats)
    ratio_to_webhook: float | None = None  # push: its e2e rate over the webhook mode's, same run
    languages: int = 1  # how many languages the subscribers read (--languages)

    @property
    def e2e_rate(self) -> float | None:
        return self.n / self.e2e_seconds * 60 if self.e2e_seconds else None

    @property
    def raw_rate(self) -> float | None:
        return self.n / self.raw_seconds * 60 if self.raw_seconds else None

    @property
    def ratio(self) -> float | None:
        return self.e2e_rate / self.raw_rate if self.e2e_rate and self.raw_rate else None


def spread_languages(app, event_id: int, languages: int) -> None:
    """The event's subscribers read ``languages`` of the shipped languages, round-robin by id."""
    from soonish.i18n import SUPPORTED_LOCALES
    with app.app_context():
        for index, locale in enumerate(SUPPORTED_LOCALES[:languages]):
            db.session.execute(update(Subscription).where(
                Subscription.event_id == event_id, Subscription.id % languages == index).values(locale=locale))
        db.session.commit()


def run_mode(mode: str, args, tmp: Path, temporal_port: int, sink: Sink, others: dict,
             languages: int = 1) -> ModeResult:
    result = ModeResult(mode, args.subscribers, languages=languages)
    database = ScratchDatabase(f"soonish_bench_{mode}{languages if languages > 1 else ''}", tmp, args.database_url)
    run_id = uuid.uuid4().hex[:8]
    config = {
        "SECRET_KEY": "bench-secret-" + "x" * 32,
        "DATABASE_URL": database.url,
        "TEMPORAL_ADDRESS": f"127.0.0.1:{temporal_port}",
        "TEMPORAL_NAMESPACE": "default",
        "TEMPORAL_TASK_QUEUE": f"bench-{run_id}",
        "TEMPORAL_ID_PREFIX": f"bench-{run_id}-",
        "PUBLIC_URL": "http://soonish.bench",
        "SMTP_HOST": "127.0.0.1",
        "SMTP_PORT": sink.port if mode == "email" else 25,
        "SMTP_STARTTLS": False,
        "MAIL_FROM": "Soonish <no-reply@soonish.bench>",
        "ALLOW_PRIVATE_TARGETS": True,
    }
    app = create_app(config)
    workers: list[Child] = []
    try:
        headers = bench_organizer(app)

        mail = {"SMTP_HOST": config["SMTP_HOST"], "SMTP_PORT": config["SMTP_PORT"], "SMTP_STARTTLS": "false",
                "MAIL_FROM": config["MAIL_FROM"], "VAPID_PRIVATE_KEY": PUSH_VAPID_KEY}
        extra = {name.removeprefix("SOONISH_"): value for name, value in (kv.split("=", 1) for kv in args.worker_env)}
        for i in range(args.workers):
            name = f"{mode}{languages if languages > 1 else ''}-worker{i + 1}"
            workers.append(start_worker(config, name, tmp, **{**SINK_BUDGETS, **mail, **extra}))
        client = app.test_client()
        starts = time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime(time.time() + 7 * 86400))
        response = client.post("/api/v1/events", headers=headers, json={
            "title": "Benchmark night", "starts_at": starts, "timezone": "Europe/Paris", "location": "Hall 2"})
        assert response.status_code == 201, response.get_json()
        event_id = response.get_json()["id"]

        t = time.monotonic()
        webhook = (lambda i: f"json://127.0.0.1:{sink.port}/r{i}") if mode == "webhook" else None
        device = (lambda i: Device.derived(PUSH_DEVICE_SEED, i, f"http://127.0.0.1:{sink.port}").subscription()) \
            if mode == "push" else None
        seed_subscribers(app, event_id, args.subscribers, webhook_url=webhook, push_subscription=device)
        if languages > 1:
            spread_languages(app, event_id, languages)
        print(f"  [{mode}] seeded {args.subscribers} subscribers in {time.monotonic() - t:.1f}s", flush=True)
        for worker in workers:
            worker.wait_for_output("worker polling task queue")
        time.sleep(1)  # let both workers' pollers settle

        profilers = [start_profiler(w, args.profile) for w in workers] if args.profile else []
        sink.reset()
        procs = {**others, **{w.name.split("-", 1)[1]: w for w in workers}}
        cpu_before = {name: cpu_seconds(p.process.pid) for name, p in procs.items()}
        bench_before = sum(os.times()[:2])
        busy_before = machine_busy_seconds()
        t0 = time.time()
        response = client.post(f"/api/v1/events/{event_id}/announcements", headers=headers,
                               json={"title": "Doors open at 7", "body": "Bring a friend; the first round is on us."})
        api_seconds = time.time() - t0
        assert response.status_code == 201, response.get_json()
        notification_id = response.get_json()["id"]

        stats = sink.wait_for(args.subscribers, args.stall_timeout, f"[{mode}] ")
        cpu_after = {name: cpu_seconds(p.process.pid) for name, p in procs.items()}
        for profiler in profilers:
            profiler.send_signal(signal.SIGINT)
            profiler.wait(60)
        bench_after = sum(os.times()[:2])
        busy_after = machine_busy_seconds()
        wall_window = time.time() - t0

        # The ledger must show all sent.
        with app.app_context():
            deadline = time.monotonic() + 60
            while True:
                db.session.expire_all()
                sent = db.session.scalar(select(func.count()).select_from(Delivery).where(
                    Delivery.notification_id == notification_id, Delivery.status == DeliveryStatus.SENT))
                if sent >= args.subscribers or time.monotonic() > deadline:
                    break
                time.sleep(0.25)
            result.ledger_sent = sent
            rows = db.session.execute(select(Delivery.subscription_id, Delivery.created_at, Delivery.sent_at).where(
                Delivery.notification_id == notification_id)).all()
            last_sent = max((r.sent_at for r in rows if r.sent_at), default=None)
            if last_sent:
                result.ledger_seconds = last_sent.timestamp() - t0
            notification = db.session.get(Notification, notification_id)
            event = db.session.get(Event, event_id)
            sample = sample_message(app, notification, event, mode)

        result.received, result.unique, result.repeats = stats["count"], stats["unique"], stats["repeats"]
        result.refused = stats.get("refused", 0)
        result.late = stats.get("late", 0)
        if stats.get("last") and stats["unique"] >= args.subscribers:
            result.e2e_seconds = stats["last"] - t0
        cpu = {name: cpu_after[name] - cpu_before[name] for name in procs}
        cpu["bench"] = bench_after - bench_before
        cpu["other (not ours)"] = max(0.0, (busy_after - busy_before) - sum(cpu.values()))
        batch_lines = {w.name.split("-", 1)[1]: parse_batches(w.log_path, notification_id) for w in workers}
        # aiohttp's TimeoutError, ServerTimeoutError, SocketTimeoutError: post_once names the class.
        timeouts = sum(w.log_path.read_text(errors="replace").count("TimeoutError)") for w in workers)
        result.worker_peak_rss_mb = max(peak_rss_mb(w.process.pid) for w in workers)
        result.history_events = history_length(config, app.config["TEMPORAL_ID_PREFIX"], event_id)
        if args.old_ledger:
            result.prune = broadcast_during_prune(app, client, headers, event_id, sink, args, mode)
        for worker in workers:
            worker.stop()
        workers.clear()
        result.analysis = analyse(mode, args, t0, api_seconds, rows, batch_lines, cpu, wall_window, stats, timeouts)

        if mode == "push":
            return result  # compared with the webhook mode's end to end instead
        # The raw limit, same sink, same run, workers stopped.
        sink.reset()
        print(f"  [{mode}] end to end done; measuring the raw limit", flush=True)
        try:
            if mode == "webhook":
                result.raw_seconds, result.raw_received = raw_webhooks(sink, args.subscribers, sample)
            else:
                result.raw_seconds, result.raw_received = raw_mail(sink, args.subscribers, sample)
        except (OSError, aiohttp.ClientError, smtplib.SMTPException) as exc:  # report the end to end anyway
            print(f"  [{mode}] the raw client failed: {exc!r}; raw figures left out", flush=True)
        return result
    finally:
        for worker in workers:
            worker.stop()
        with app.app_context():
            db.session.remove()
            db.engine.dispose()
        database.drop()


def peak_rss_mb(pid: int) -> float:
    """The process's peak resident set so far (VmHWM), in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def history_length(config: dict, id_prefix: str, event_id: int) -> int:
    """Events in the history of the event's workflow run that delivered the broadcast."""
    async def describe() -> int:
        client = await Client.connect(config["TEMPORAL_ADDRESS"], namespace=config["TEMPORAL_NAMESPACE"])
        return (await client.get_workflow_handle(event_workflow_id(id_prefix, event_id)).describe()).history_length

    return asyncio.run(describe())


def start_profiler(worker: Child, folder: str) -> subprocess.Popen:
    """py-spy (pip install py-spy) sampling a worker, all threads, as collapsed stacks."""
    Path(folder).mkdir(parents=True, exist_ok=True)
    out = Path(folder) / f"{worker.name}.txt"
    profiler = subprocess.Popen([str(Path(sys.executable).with_name("py-spy")), "record", "--format", "raw",
                                 "--rate", "250", "--nonblocking", "-o", str(out), "-p", str(worker.process.pid)],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(1)
    return profiler


def sample_message(app, notification: Notification, event: Event, mode: str) -> bytes:
    """What one recipient gets, as bytes on the wire, with a fixed-width key to substitute."""
    with app.test_request_context():
        text = NotificationText.of(notification, event, f"{app.config['PUBLIC_URL']}/e/{event.slug}")
        links = RecipientLinks(f"{app.config['PUBLIC_URL']}/manage/" + "t" * 80,
                               f"{app.config['PUBLIC_URL']}/unsubscribe/" + "t" * 80)
        message: Message = text.message("raw-KEY-000000000", links if mode == "email" else None, mode == "email")
    if mode == "email":
        mail = compose_mail(message, app.config["MAIL_FROM"], "follower0@example.com")
        return mail.as_bytes(policy=mail.policy.clone(linesep="\r\n"))  # as smtplib's send_message does
    payload = {"version": "1.0", "title": message.title, "message": message.short, "type": message.notify_type,
               "attachments": [], "soonish": {"delivery_key": message.delivery_key, **message.extra}}
    return json.dumps(payload).encode()


def raw_webhooks(sink: Sink, n: int, body: bytes) -> tuple[float | None, int]:
    async def post_all() -> float:
        connector = aiohttp.TCPConnector(limit=RAW_HTTP_CONCURRENCY)
        # No total timeout: a post can wait its turn long on a busy box.
        timeout = aiohttp.ClientTimeout(total=None, sock_connect=30, sock_read=30)
        async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
            async def post(i: int) -> None:
                key = f"raw-{i:013d}"
                data = body.replace(b"raw-KEY-000000000", key.encode())
                async with session.post(f"http://127.0.0.1:{sink.port}/r{i}", data=data, headers={
                        "Content-Type": "application/json", "Idempotency-Key": key}) as response:
                    await response.read()

            # One client per pooled connection, each posting the next body in turn: N posts
            # queued at once (100,000 tasks) starved the loop on a box at load average 24 until
            # a connect timed out after 30 s, and the run died before its report.
            remaining = iter(range(n))

            async def client() -> None:
                for i in remaining:
                    await post(i)

            t0 = time.time()
            await asyncio.gather(*(client() for _ in range(RAW_HTTP_CONCURRENCY)))
            return t0

    t0 = asyncio.run(post_all())
    stats = sink.stats()
    return (stats["last"] - t0 if stats["last"] else None), stats["unique"]


def raw_mail(sink: Sink, n: int, mail: bytes) -> tuple[float | None, int]:
    t0 = time.time()
    with smtplib.SMTP("127.0.0.1", sink.port, timeout=30) as smtp:
        for i in range(n):
            key = f"raw-{i:013d}"
            smtp.sendmail("no-reply@soonish.bench", [f"follower{i}@example.com"],
                          mail.replace(b"raw-KEY-000000000", key.encode()))
    stats = sink.stats()
    return (stats["last"] - t0 if stats["last"] else None), stats["unique"]


# A broadcast during a ledger prune (--old-ledger) ----------------------------------------------------

OLD_FOLLOWERS = 10_000
PRUNE_WAIT_SECONDS = 600  # after the broadcast, how long to wait for the prune to finish (then report what is left)
SEED_CHUNK = 20_000


def seed_old_ledger(app, organizer_id: int, rows: int) -> list[int]:
    """``rows`` sent deliveries of an event that ended 120 days ago (its followers' addresses,
    OLD_FOLLOWERS of them, one notification per OLD_FOLLOWERS rows). Returns the notification ids."""
    long_ago = utcnow() - timedelta(days=120)
    with app.app_context():
        event = Event(organizer_id=organizer_id, slug=f"old-{uuid.uuid4().hex[:6]}", title="Last season",
                      starts_at=long_ago, status=EventStatus.COMPLETED)
        db.session.add(event)
        db.session.commit()
        followers = min(OLD_FOLLOWERS, rows)
        seed_subscribers(app, event.id, followers, prefix="old")
        subscription_ids = list(db.session.scalars(select(Subscription.id).where(Subscription.event_id == event.id)))
        notification_ids, written = [], 0
        while written < rows:
            notification = Notification(event_id=event.id, kind=NotificationKind.ANNOUNCEMENT,
                                        title=f"Old news {len(notification_ids)}", created_at=long_ago)
            db.session.add(notification)
            db.session.flush()
            notification_ids.append(notification.id)
            batch = subscription_ids[: rows - written]
            for start in range(0, len(batch), SEED_CHUNK):
                db.session.execute(Delivery.__table__.insert(), [
                    {"notification_id": notification.id, "subscription_id": sid, "target": f"email:old{sid}@example.com",
                     "channel": "email", "status": DeliveryStatus.SENT, "attempts": 1, "sent_at": long_ago,
                     "created_at": long_ago}
                    for sid in batch[start : start + SEED_CHUNK]
                ])
            db.session.commit()
            written += len(batch)
        return notification_ids


def timed_announcement(client, headers, event_id: int, sink: Sink, args, title: str) -> float | None:
    """Announce and wait for every recipient at the sink; seconds from the POST to the last one."""
    sink.reset()
    t0 = time.time()
    response = client.post(f"/api/v1/events/{event_id}/announcements", headers=headers, json={"title": title})
    assert response.status_code == 201, response.get_json()
    last_count, last_progress = -1, time.monotonic()
    while (stats := sink.stats())["unique"] < args.subscribers:
        if stats["count"] != last_count:
            last_count, last_progress = stats["count"], time.monotonic()
        elif time.monotonic() - last_progress > args.stall_timeout:
            return None
        time.sleep(0.25)
    return stats["last"] - t0


def old_rows(app, notification_ids: list[int]) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(Delivery)
                                 .where(Delivery.notification_id.in_(notification_ids)))


def broadcast_during_prune(app, client, headers, event_id: int, sink: Sink, args, mode: str) -> list[str]:
    with app.app_context():
        organizer_id = db.session.scalar(select(User.id).where(User.email == "organizer@soonish.bench"))
    t = time.monotonic()
    old_ids = seed_old_ledger(app, organizer_id, args.old_ledger)
    print(f"  [{mode}] seeded an old ledger of {args.old_ledger} rows in {time.monotonic() - t:.1f}s", flush=True)
    alone = timed_announcement(client, headers, event_id, sink, args, "Baseline, no prune")
    print(f"  [{mode}] broadcast alone: {fmt(alone, '{:.2f}')}s; starting the prune", flush=True)
    with app.app_context():
        prune_id = f"{app.config['TEMPORAL_ID_PREFIX']}retention-bench"
        gateway().run(lambda c: c.start_workflow(RetentionWorkflow.run, LedgerPruneRound(), id=prune_id,
                                                 task_queue=app.config["TEMPORAL_TASK_QUEUE"]))
    before = old_rows(app, old_ids)
    time.sleep(2)  # the prune is under way before the broadcast starts
    during_start = old_rows(app, old_ids)
    during = timed_announcement(client, headers, event_id, sink, args, "During the prune")
    during_end = old_rows(app, old_ids)
    t = time.monotonic()
    while old_rows(app, old_ids) and time.monotonic() - t < PRUNE_WAIT_SECONDS:
        time.sleep(2)
    left = old_rows(app, old_ids)
    prune_seconds = time.monotonic() - t
    n = args.subscribers
    rate_alone = n / alone * 60 if alone else None
    rate_during = n / during * 60 if during else None
    change = (rate_during / rate_alone - 1) if rate_alone and rate_during else None
    return [
        f"  old ledger: {args.old_ledger:,} rows of an event over 120 days ago ({len(old_ids)} notifications); "
        f"{before - during_start:,} pruned in the 2 s before the broadcast",
        f"  broadcast alone:         {fmt(alone, '{:.2f}')} s  {fmt(rate_alone, '{:,.0f}')} /min",
        f"  broadcast during prune:  {fmt(during, '{:.2f}')} s  {fmt(rate_during, '{:,.0f}')} /min  "
        f"({fmt(change, '{:+.1%}')}; target within 10%: {'MET' if change is not None and abs(change) <= 0.10 else 'MISSED'})",
        f"  the prune removed {during_start - during_end:,} old rows during that broadcast "
        f"({(during_start - during_end) / during if during else 0:,.0f} rows/s); "
        f"{left:,} left {prune_seconds:.0f} s after it",
    ]


# Where the time went -------------------------------------------------------------------------------

def parse_batches(log: Path, notification_id: int) -> list[dict]:
    batches = []
    for match in BATCH_LINE.finditer(log.read_text(errors="replace")):
        if int(match.group(3)) != notification_id:
            continue
        batches.append({"sent": int(match.group(4)), "retrying": int(match.group(6)),
                        "already_sent": int(match.group(7)), "prepare": float(match.group(8)),
                        "sends": float(match.group(9)), "records": float(match.group(10)),
                        "total": float(match.group(11))})
    return batches


def analyse(mode, args, t0, api_seconds, rows, batch_lines, cpu, wall, stats, timeouts: int) -> list[str]:
    out = []
    created = sorted(r.created_at.timestamp() - t0 for r in rows)
    sent = sorted(r.sent_at.timestamp() - t0 for r in rows if r.sent_at)
    if not created:
        return ["  no ledger rows: the broadcast never started"]
    out.append(f"  timeline (s after the announcement POST; the API call itself took {api_seconds:.3f}s):")
    out.append(f"    first ledger row written {created[0]:7.2f}   (signal → workflow → plan_fanout → first batch)")
    if sent:
        out.append(f"    first send recorded      {sent[0]:7.2f}")
    out.append(f"    last ledger row written  {created[-1]:7.2f}   (the last batch started)")
    if sent:
        out.append(f"    last send recorded       {sent[-1]:7.2f}")
    if stats.get("first"):
        out.append(f"    sink: first {stats['first'] - t0:7.2f}, last {stats['last'] - t0:7.2f}")
    all_batches = [b for lines in batch_lines.values() for b in lines]
    if all_batches:
        out.append(f"  batches: {len(all_batches)} ran ({', '.join(f'{k}: {len(v)}' for k, v in batch_lines.items())}); "
                   f"sends per batch {statistics.median(b['sent'] for b in all_batches):.0f} (median)")
        totals = {k: sum(b[k] for b in all_batches) for k in ("prepare", "sends", "records", "total")}
        other = totals["total"] - totals["prepare"] - totals["sends"] - totals["records"]
        out.append("  inside deliver_batch, summed over batches (batch-seconds; batches overlap):")
        for key in ("prepare", "sends", "records"):
            per = statistics.median(b[key] for b in all_batches)
            out.append(f"    {key:<8} {totals[key]:8.2f}  {totals[key] / totals['total']:6.1%}   median per batch {per:.3f}s")
        out.append(f"    {'other':<8} {other:8.2f}  {other / totals['total']:6.1%}")
        out.append(f"    total    {totals['total']:8.2f}           median per batch "
                   f"{statistics.median(b['total'] for b in all_batches):.3f}s, "
                   f"mean overlap {totals['total'] / wall:.1f} batches at once")
        # Where a repeat can come from: an attempt that resumed a batch (another attempt of it
        # ran before: taken over after missed heartbeats, or retried), and sends cut off at the
        # HTTP timeout (sent again; the sink counts a copy it took after the cut-off as late).
        resumed = [b for b in all_batches if b["already_sent"]]
        out.append(f"  batch attempts resuming a batch: {len(resumed)} (finding {sum(b['already_sent'] for b in resumed)} "
                   f"sent before); sends handed back to retry: {sum(b['retrying'] for b in all_batches)}; "
                   f"sends cut off at the timeout: {timeouts}; sink took {stats.get('late', 0)} after their sender's timeout")
    cores = os.cpu_count() or 1
    out.append(f"  CPU during the broadcast ({wall:.2f}s wall × {cores} cores = {wall * cores:.1f} CPU-s available):")
    for name, seconds in sorted(cpu.items(), key=lambda kv: -kv[1]):
        out.append(f"    {name:<18} {seconds:7.2f} CPU-s  {seconds / (wall * cores):6.1%}")
    used = sum(cpu.values())
    workers = sum(v for k, v in cpu.items() if k.startswith("worker"))
    out.append(f"    workers: {workers / args.subscribers * 1000:.3f} ms CPU per message "
               f"(steadier than the rates when the machine is shared)")
    out.append(f"    {'idle':<18} {max(0.0, wall * cores - used):7.2f} CPU-s  {max(0.0, 1 - used / (wall * cores)):6.1%}")
    return out


# Report ----------------------------------------------------------------------------------------------

def fmt(value, pattern: str) -> str:
    return pattern.format(value) if value is not None else "—"


def report(results: list[ModeResult], args, load_before: str, load_after: str) -> None:
    print()
    print(f"Soonish broadcast benchmark: {args.subscribers} subscribers, {args.workers} worker processes, "
          f"{os.cpu_count()} cores, database {'PostgreSQL' if args.database_url else 'SQLite'}"
          + (f", worker env {' '.join(args.worker_env)}" if args.worker_env else ""))
    print(f"load average before: {load_before}; after: {load_after}")
    print()
    header = f"{'mode':<8} {'e2e s':>7} {'e2e /min':>10} {'raw s':>7} {'raw /min':>10} {'ratio':>6} " \
             f"{'sink got':>9} {'repeats':>7} {'ledger sent':>11}  target"
    print(header)
    print("-" * len(header))
    for r in results:
        if r.mode == "webhook":
            ok = (r.e2e_rate or 0) >= 150000 and (r.ratio or 0) >= 0.8
            target = "≥150,000/min and ≥0.8 raw: " + ("MET" if ok else "MISSED")
        elif r.mode == "push":
            ok = (r.ratio_to_webhook or 0) >= 0.5 and r.unique == r.n and r.refused == 0 and r.repeats == 0
            target = (f"≥0.5 webhook ({fmt(r.ratio_to_webhook, '{:.2f}')}), all decrypted, {r.refused} refused: "
                      + ("MET" if ok else "MISSED"))
        else:
            ok = (r.ratio or 0) >= 0.5
            target = "≥0.5 raw: " + ("MET" if ok else "MISSED")
        label = f"{r.mode}×{r.languages}" if r.languages > 1 else r.mode
        print(f"{label:<8} {fmt(r.e2e_seconds, '{:.2f}'):>7} {fmt(r.e2e_rate, '{:,.0f}'):>10} "
              f"{fmt(r.raw_seconds, '{:.2f}'):>7} {fmt(r.raw_rate, '{:,.0f}'):>10} {fmt(r.ratio, '{:.2f}'):>6} "
              f"{r.unique:>9} {r.repeats:>7} {r.ledger_sent:>11}  {target}")
    for r in results:
        print()
        print(f"Where the time went: {r.mode}")
        for line in r.analysis:
            print(line)
    for r in results:
        if r.prune:
            print()
            print(f"Broadcast during a ledger prune: {r.mode}, {r.n} recipients")
            for line in r.prune:
                print(line)
    print()
    for r in results:
        push = f" decrypted={r.unique} refused={r.refused} late={r.late} ratio_to_webhook={fmt(r.ratio_to_webhook, '{:.2f}')}" \
            if r.mode == "push" else ""
        print(f"RESULT broadcast mode={r.mode} subscribers={r.n} e2e_per_min={fmt(r.e2e_rate, '{:.0f}')} "
              f"raw_per_min={fmt(r.raw_rate, '{:.0f}')} ratio={fmt(r.ratio, '{:.2f}')} "
              f"worker_peak_rss_mb={fmt(r.worker_peak_rss_mb, '{:.0f}')} history_events={fmt(r.history_events, '{}')} "
              f"repeats={r.repeats} languages={r.languages}{push}")
    one, many = (next((r for r in results if r.mode == "webhook" and (r.languages > 1) == multi), None)
                 for multi in (False, True))
    if one is not None and many is not None and one.e2e_rate and many.e2e_rate:
        ratio = many.e2e_rate / one.e2e_rate
        print(f"RESULT broadcast_languages subscribers={many.n} languages={many.languages} "
              f"e2e_per_min_one_language={one.e2e_rate:.0f} e2e_per_min_{many.languages}_languages={many.e2e_rate:.0f} "
              f"ratio={ratio:.2f} within_10_percent={'yes' if ratio >= 0.9 else 'no'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--subscribers", type=int, default=10_000)
    parser.add_argument("--mode", choices=["webhook", "email", "both", "push"], default="both",
                        help="push: webhook, then push to a fake push service (compared with webhook)")
    parser.add_argument("--database-url", default="",
                        help="a PostgreSQL server URL; the bench makes (and drops) its own database there")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--worker-env", action="append", default=[], metavar="SOONISH_X=V",
                        help="extra environment for the workers, e.g. SOONISH_DELIVERY_BATCH_SIZE=500")
    parser.add_argument("--stall-timeout", type=float, default=120, help="give up after this long with no progress")
    parser.add_argument("--profile", metavar="DIR", help="sample the workers with py-spy into DIR (slows them)")
    parser.add_argument("--keep", action="store_true", help="keep the temp dir (logs, SQLite files)")
    parser.add_argument("--bounce-rate", type=float, default=0.0, metavar="RATE",
                        help="email only: that share of dead mailboxes; broadcast twice and against a clean "
                             "audience (bench/bounces.py)")
    parser.add_argument("--languages", type=int, default=1, metavar="N",
                        help="webhook twice: all subscribers in English, then spread over N languages (up to 6)")
    parser.add_argument("--old-ledger", type=int, default=0, metavar="ROWS",
                        help="then seed ROWS old deliveries and compare a broadcast alone and during their prune")
    args = parser.parse_args()

    load_before = Path("/proc/loadavg").read_text().split()[:3]
    tmp = Path(tempfile.mkdtemp(prefix="soonish-bench-"))
    started: list = []
    results = []
    try:
        temporal = TemporalDevServer(log_path=tmp / "temporal.log").start()
        temporal_port = temporal.port
        started.append(temporal)
        if args.bounce_rate:
            from bench.bounces import run_bounces
            print(run_bounces(args, tmp, temporal_port), flush=True)
            return
        modes = {"both": ["webhook", "email"], "push": ["webhook", "push"]}.get(args.mode, [args.mode])
        runs = [(mode, 1) for mode in modes]
        if args.languages > 1:
            runs = [("webhook", 1), ("webhook", args.languages)]
        sink_kinds = {"webhook": ("http",), "email": ("smtp",),
                      "push": ("push", "--seed", PUSH_DEVICE_SEED, "--vapid-key", vapid_public_key(PUSH_VAPID_KEY))}
        for mode, languages in runs:
            sink = start_sink(sink_kinds[mode][0], tmp, *sink_kinds[mode][1:])
            started.append(sink.proc)
            print(f"[{mode}] {languages} language(s); temporal on {temporal_port}, sink on {sink.port}; logs in {tmp}",
                  flush=True)
            results.append(run_mode(mode, args, tmp, temporal_port, sink, {"temporal": temporal, "sink": sink.proc},
                                    languages))
            sink.proc.stop()
    finally:
        for proc in reversed(started):
            proc.stop()
        if not args.keep:
            import shutil
            shutil.rmtree(tmp, ignore_errors=True)
    webhook = next((r for r in results if r.mode == "webhook"), None)
    for r in results:
        if r.mode == "push" and webhook is not None and r.e2e_rate and webhook.e2e_rate:
            r.ratio_to_webhook = r.e2e_rate / webhook.e2e_rate
    report(results, args, " ".join(load_before), " ".join(Path("/proc/loadavg").read_text().split()[:3]))


if __name__ == "__main__":
    main()
