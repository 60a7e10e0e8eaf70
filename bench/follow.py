#!/usr/bin/env python
"""Follow benchmark: is following as fast as viewing the page, and is "check your inbox" true?

    .venv/bin/python bench/follow.py [--followers 10000] [--follows 2000] [--concurrency 32]
                                     [--page-connections 16] [--page-seconds 10]
                                     [--web-workers 4] [--web-threads 1]
                                     [--database-url postgresql+psycopg://postgres@127.0.0.1:5432/test]
                                     [--replica | --replica-unused]

What runs, all started here: a Temporal dev server, SQLite in a temp dir (or a scratch database
on the given PostgreSQL server, dropped afterwards), `soonish web` (gunicorn with the default
SOONISH_WEB_WORKERS and SOONISH_WEB_THREADS, rate limits off), one `soonish worker` (which drains
the follow outbox) and an aiosmtpd sink in its own process (bench/sink.py).

It seeds an event with N active followers, then in one run measures
  (a0) /healthz, the same way, as the yardstick for (a) on a shared box;
  (a) the event page: GET /e/<slug> over P keep-alive connections for S seconds (req/s, p99);
  (b) F anonymous follows, POST /api/v1/events/<id>/subscriptions {"email": unique}, at C
      concurrent (req/s, p50/p99), and for each, request → its confirm mail at the sink.
Both use the same client (aiohttp, in this process), so the ratio compares like with like.
With --replica it starts a PostgreSQL primary and a streaming replica of it on this box
(loopback/postgres_cluster.py) and gives the web app the replica (SOONISH_DATABASE_REPLICA_URLS):
the page phase then also reports which database served the reads (the web app's /metrics,
soonish_database_reads_total) and the CPU the primary and the replica used meanwhile.
--replica-unused starts the same pair but tells the web app nothing of the replica: the run to
set beside it (on one box a replica adds no CPU; the figures show where the reads went).

It prints a table, where the time went (CPU per process, the outbox timeline) and, last,
    RESULT follow page_rps=… healthz_rps=… page_ratio=… follow_rps=… ratio=… follow_p99_ms=… confirm_p95_s=… confirm_max_s=… mails=got/expected
(page_ratio: the anonymous event page's req/s over /healthz's, measured just before it;
with --replica or --replica-unused, also replica_share=… primary_cpu_ms_per_page=… replica_cpu_ms_per_page=…)
"""
import argparse
import asyncio
import os
import re
import sys
import tempfile
import time
import urllib.request
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import aiohttp  # noqa: E402
from sqlalchemy import func, select  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from soonish.config import Config  # noqa: E402
from soonish.models import OutboxItem, OutboxKind, db  # noqa: E402
from soonish.web import create_app  # noqa: E402
from loopback.postgres_cluster import ReplicatedPair  # noqa: E402
from loopback.processes import (  # noqa: E402
    Child, ScratchDatabase, TemporalDevServer, soonish_env, start_worker, wait_for_port,
)
from loopback.seeding import seed_subscribers  # noqa: E402
from loopback.sinks import free_port  # noqa: E402

from bench.stack import SINK_BUDGETS, bench_organizer, cpu_seconds, machine_busy_seconds, start_sink  # noqa: E402

CONFIRM_TIMEOUT = 180


def tree_cpu_seconds(pid: int) -> float:
    """CPU used by a process and its children (gunicorn's workers are the master's children)."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (FileNotFoundError, ProcessLookupError, IndexError):
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    total, todo = 0.0, [pid]
    while todo:
        current = todo.pop()
        total += cpu_seconds(current)
        todo += children.get(current, [])
    return total


def cpu_by_process(children: list[Child], temporal: TemporalDevServer) -> dict[str, float]:
    used = {child.name: tree_cpu_seconds(child.pid) for child in children}
    used["temporal"] = tree_cpu_seconds(temporal.process.pid)
    used["bench"] = cpu_seconds(os.getpid())  # the HTTP client (its children are counted above)
    return used


def postgres_cpu_seconds(server) -> float:
    """CPU of one of the pair's servers: its postmaster and every backend (its children)."""
    return tree_cpu_seconds(int((server.folder / "postmaster.pid").read_text().split()[0]))


def reads_by_target(base: str) -> dict[str, float]:
    """Requests the web app's processes have served, by the database that served them."""
    with urllib.request.urlopen(f"{base}/metrics", timeout=30) as response:
        exposition = response.read().decode()
    totals: dict[str, float] = {}
    for target, value in re.findall(r'^soonish_database_reads_total\{reason="[^"]+",target="([^"]+)"\} (\S+)$',
                                    exposition, re.M):
        totals[target] = totals.get(target, 0) + float(value)
    return totals


def percentile(values: list[float], p: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered)) - 1))]


async def measure_page(base: str, path: str, connections: int, seconds: float) -> dict:
    latencies: list[float] = []
    errors = 0
    deadline = time.monotonic() + seconds

    async def loop(session: aiohttp.ClientSession) -> None:
        nonlocal errors
        while time.monotonic() < deadline:
            began = time.monotonic()
            async with session.get(base + path) as response:
                await response.read()
                if response.status == 200:
                    latencies.append(time.monotonic() - began)
                else:
                    errors += 1

    connector = aiohttp.TCPConnector(limit=connections)
    async with aiohttp.ClientSession(connector=connector) as session:
        began = time.monotonic()
        await asyncio.gather(*(loop(session) for _ in range(connections)))
        wall = time.monotonic() - began
    return {"rps": len(latencies) / wall, "p50": percentile(latencies, 50), "p99": percentile(latencies, 99),
            "ok": len(latencies), "errors": errors, "wall": wall}


async def follow_burst(base: str, event_id: int, count: int, concurrency: int, run_id: str) -> dict:
    started: dict[int, float] = {}  # subscription id → wall-clock time its request was sent
    timeline: list[tuple[float, float]] = []  # (seconds into the burst it was sent, its latency)
    statuses: dict[int, int] = {}
    queue: asyncio.Queue = asyncio.Queue()
    for i in range(count):
        queue.put_nowait(f"burst{i}-{run_id}@example.com")

    async def loop(session: aiohttp.ClientSession) -> None:
        while not queue.empty():
            email = queue.get_nowait()
            sent_at, began = time.time(), time.monotonic()
            async with session.post(f"{base}/api/v1/events/{event_id}/subscriptions", json={"email": email}) as response:
                body = await response.json(content_type=None)
            timeline.append((began - burst_began, time.monotonic() - began))
            statuses[response.status] = statuses.get(response.status, 0) + 1
            if response.status == 202:
                started[body["id"]] = sent_at

    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:
        burst_began = time.monotonic()
        await asyncio.gather(*(loop(session) for _ in range(concurrency)))
        wall = time.monotonic() - burst_began
    latencies = [latency for _, latency in timeline]
    return {"rps": count / wall, "p50": percentile(latencies, 50), "p99": percentile(latencies, 99),
            "statuses": statuses, "started": started, "wall": wall,
            "slowest": sorted(timeline, key=lambda sent_latency: -sent_latency[1])[:max(1, count // 100)]}


def confirm_delays(sink, started: dict[int, float], timeout: float) -> tuple[list[float], dict]:
    """Wait until every follow's confirm mail is at the sink (or the timeout); each one's delay."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        stats = sink.stats()
        if stats["unique"] >= len(started):
            break
        time.sleep(0.5)
    time.sleep(2)  # a repeat, if there were one, would arrive about now
    stats = sink.stats()
    delays = []
    for key, arrived in sink.arrivals().items():
        # soonish-confirm-<subscription id>-outbox-<row id>
        parts = key.split("-")
        if len(parts) >= 3 and parts[1] == "confirm" and int(parts[2]) in started:
            delays.append(arrived - started[int(parts[2])])
    return delays, stats


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--followers", type=int, default=10000)
    parser.add_argument("--follows", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--page-connections", type=int, default=16)
    parser.add_argument("--page-seconds", type=float, default=10)
    parser.add_argument("--web-workers", type=int, default=Config.WEB_WORKERS)
    parser.add_argument("--web-threads", type=int, default=Config.WEB_THREADS)
    parser.add_argument("--database-url", default=None)
    own = parser.add_mutually_exclusive_group()
    own.add_argument("--replica", action="store_true", help="a primary and a streaming replica here; pages read the replica")
    own.add_argument("--replica-unused", action="store_true", help="the same pair, the web app reads the primary only")
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="soonish-follow-bench-"))
    temporal = TemporalDevServer(log_path=tmp / "temporal.log").start()
    sink = start_sink("smtp", tmp)
    pair = ReplicatedPair().start() if args.replica or args.replica_unused else None
    database = ScratchDatabase("soonish_bench_follow", tmp, pair.primary.url() if pair else args.database_url)
    run_id = uuid.uuid4().hex[:8]
    web_port = free_port()
    config = {
        "SECRET_KEY": "bench-secret-" + "x" * 32,
        "DATABASE_URL": database.url,
        "TEMPORAL_ADDRESS": temporal.address,
        "TEMPORAL_NAMESPACE": "default",
        "TEMPORAL_TASK_QUEUE": f"bench-{run_id}",
        "TEMPORAL_ID_PREFIX": f"bench-{run_id}-",
        "PUBLIC_URL": f"http://127.0.0.1:{web_port}",
        "SMTP_HOST": "127.0.0.1",
        "SMTP_PORT": sink.port,
        "SMTP_STARTTLS": False,
        "ALLOW_PRIVATE_TARGETS": True,
    }
    mail = {"SMTP_HOST": "127.0.0.1", "SMTP_PORT": sink.port, "SMTP_STARTTLS": "false"}
    app = create_app(config)
    children: list[Child] = [sink.proc]
    try:
        organizer = bench_organizer(app)
        worker = start_worker(config, "worker", tmp, **SINK_BUDGETS, **mail)
        replica_url = make_url(database.url).set(port=pair.replica.port) if args.replica else None
        replica = {"DATABASE_REPLICA_URLS": replica_url.render_as_string(hide_password=False)} if replica_url else {}
        web_env = soonish_env(config, RATELIMIT_ENABLED="false", WEB_THREADS=args.web_threads, **mail, **replica)
        (tmp / "metrics").mkdir()
        web_env["PROMETHEUS_MULTIPROC_DIR"] = str(tmp / "metrics")  # /metrics adds up every web process
        web = Child("web", [sys.executable, "-m", "soonish", "web", "--bind", f"127.0.0.1:{web_port}",
                            "--workers", str(args.web_workers)], web_env, tmp)
        children += [worker, web]
        wait_for_port(web_port, web.process, "soonish web")
        client = app.test_client()
        starts = time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime(time.time() + 7 * 86400))
        response = client.post("/api/v1/events", headers=organizer, json={
            "title": "Follow night", "starts_at": starts, "timezone": "Europe/Paris", "location": "Hall 2",
            "description": "A benchmark event with many followers."})
        assert response.status_code == 201, response.get_json()
        event = response.get_json()
        seed_subscribers(app, event["id"], args.followers)
        base = f"http://127.0.0.1:{web_port}"
        if pair:
            pair.wait_caught_up(120)  # the seeded followers: a replica behind by more than the limit is skipped

        # Warm both paths (imports, templates, connections), then measure.
        asyncio.run(measure_page(base, f"/e/{event['slug']}", 2, 1.0))
        load_before = os.getloadavg()
        # /healthz (no query, no template) measured just before the page, on the same box and
        # client: the box is shared, so the page is judged by its ratio to this, not by req/s.
        asyncio.run(measure_page(base, "/healthz", 2, 1.0))
        healthz = asyncio.run(measure_page(base, "/healthz", args.page_connections, args.page_seconds))
        web_cpu_before = tree_cpu_seconds(web.pid)
        if pair:
            reads_before = reads_by_target(base)
            servers_before = {name: postgres_cpu_seconds(server) for name, server in
                              (("primary", pair.primary), ("replica", pair.replica))}
        page = asyncio.run(measure_page(base, f"/e/{event['slug']}", args.page_connections, args.page_seconds))
        page["web_cpu_ms"] = (tree_cpu_seconds(web.pid) - web_cpu_before) / max(page["ok"], 1) * 1000
        if pair:
            reads_after = reads_by_target(base)
            served = {target: reads_after.get(target, 0) - reads_before.get(target, 0) for target in reads_after}
            page["replica_share"] = sum(n for target, n in served.items() if target != "primary") / \
                max(sum(served.values()), 1)
            page["served"] = served
            for name, server in (("primary", pair.primary), ("replica", pair.replica)):
                page[f"{name}_cpu_ms"] = (postgres_cpu_seconds(server) - servers_before[name]) / max(page["ok"], 1) * 1000

        sink.reset()
        cpu_before = cpu_by_process(children, temporal)
        busy_before, wall_began = machine_busy_seconds(), time.monotonic()
        follows = asyncio.run(follow_burst(base, event["id"], args.follows, args.concurrency, run_id))
        delays, stats = confirm_delays(sink, follows["started"], CONFIRM_TIMEOUT)
        wall = time.monotonic() - wall_began
        cpu = {name: seconds - cpu_before[name] for name, seconds in cpu_by_process(children, temporal).items()}
        busy = machine_busy_seconds() - busy_before

        with app.app_context():
            rows = db.session.execute(
                select(func.count(), func.min(OutboxItem.created_at), func.max(OutboxItem.created_at),
                       func.min(OutboxItem.done_at), func.max(OutboxItem.done_at),
                       func.count(OutboxItem.done_at), func.max(OutboxItem.attempts))
                .where(OutboxItem.kind == OutboxKind.CONFIRM_MAIL)
            ).one()
    finally:
        for child in reversed(children):
            child.stop()
        temporal.stop()
        database.drop()
        if pair:
            pair.stop()

    expected = args.follows
    got = stats["count"]
    ratio = follows["rps"] / page["rps"] if page["rps"] else 0
    page_ratio = page["rps"] / healthz["rps"] if healthz["rps"] else 0
    confirm_p95 = percentile(delays, 95)
    confirm_max = max(delays) if delays else None

    def ms(value):
        return f"{value * 1000:.0f}" if value is not None else "—"

    def s(value):
        return f"{value:.2f}" if value is not None else "—"

    print()
    print(f"Soonish follow benchmark: event with {args.followers} followers, {os.cpu_count()} cores, "
          f"database {'PostgreSQL' if args.database_url or pair else 'SQLite'}, web: gunicorn × {args.web_workers} "
          f"({args.web_threads} request{'s' if args.web_threads > 1 else ''} at a time each), 1 worker (SMTP budget {SINK_BUDGETS['BUDGET_SMTP_HOST']}); load average before {load_before[0]:.2f}")
    print()
    header = f"{'measure':<34} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8}  target"
    print(header)
    print("-" * len(header))
    print(f"{f'/healthz, {args.page_connections} keep-alive conns':<34} {healthz['rps']:>8.0f} {ms(healthz['p50']):>8} "
          f"{ms(healthz['p99']):>8}  ({healthz['ok']} OK, {healthz['errors']} errors)")
    print(f"{f'event page, {args.page_connections} keep-alive conns':<34} {page['rps']:>8.0f} {ms(page['p50']):>8} "
          f"{ms(page['p99']):>8}  ({page['ok']} OK, {page['errors']} errors)")
    print(f"{'event page / healthz':<34} {page_ratio:>8.2f} {'':>8} {'':>8}  ≥ 0.7: {'MET' if page_ratio >= 0.7 else 'MISSED'}")
    print(f"{f'{args.follows} follows, {args.concurrency} concurrent':<34} {follows['rps']:>8.0f} "
          f"{ms(follows['p50']):>8} {ms(follows['p99']):>8}  p99 ≤ 250 ms: "
          f"{'MET' if follows['p99'] is not None and follows['p99'] <= 0.25 else 'MISSED'}; statuses {follows['statuses']}")
    if pair:
        served = ", ".join(f"{t} {n:.0f}" for t, n in sorted(page["served"].items())) or \
            "not counted (no replica set: the primary serves every read)"
        print(f"{'  reads by database (requests)':<34} {served}"
              f"; replica share {page['replica_share']:.3f} (≥ 0.9 with --replica)")
        print(f"{'  PostgreSQL CPU per page view':<34} primary {page['primary_cpu_ms']:.2f} ms, "
              f"replica {page['replica_cpu_ms']:.2f} ms ({'replica in use' if args.replica else 'replica unused'})")
    print(f"{'follow / page':<34} {ratio:>8.2f} {'':>8} {'':>8}  ≥ 0.4: {'MET' if ratio >= 0.4 else 'MISSED'}")
    print(f"{'request → confirm mail at sink':<34} {'':>8} {s(percentile(delays, 50)):>7}s {s(percentile(delays, 99)):>7}s"
          f"  p95 {s(confirm_p95)} s ≤ 5 s: {'MET' if confirm_p95 is not None and confirm_p95 <= 5 else 'MISSED'}; "
          f"max {s(confirm_max)} s")
    print(f"{'confirm mails':<34} {got:>8} {'':>8} {'':>8}  unique {stats['unique']}, repeats {stats['repeats']}, "
          f"expected {expected}: {'MET' if got == stats['unique'] == expected else 'MISSED'}")
    print()
    print("Where the time went (follow phase, burst + drain):")
    count, first_created, last_created, first_done, last_done, done, max_attempts = rows
    if count:
        origin = first_created
        print(f"  outbox: {count} confirm rows, {done} done, most attempts {max_attempts}; "
              f"rows written over {(last_created - origin).total_seconds():.2f}s, "
              f"first done +{(first_done - origin).total_seconds():.2f}s, last done +{(last_done - origin).total_seconds():.2f}s")
    # Sent in a few moments: something paused every request in flight (a collection, a
    # checkpoint); spread over the burst: queueing behind the CPU or the database's lock.
    sent_at = [f"+{sent:.1f}s" for sent in sorted(sent for sent, _ in follows["slowest"])]
    print(f"  the slowest 1% of follows ({ms(follows['slowest'][-1][1])}–{ms(follows['slowest'][0][1])} ms) were sent at "
          f"{', '.join(dict.fromkeys(sent_at))}")
    cores = os.cpu_count() or 1
    print(f"  CPU ({wall:.1f}s wall × {cores} cores = {wall * cores:.1f} CPU-s; machine busy {busy:.1f} CPU-s, "
          f"other processes included):")
    print(f"  for comparison, the page phase: web {page['web_cpu_ms']:.2f} ms CPU per page view")
    for name, seconds in sorted(cpu.items(), key=lambda kv: -kv[1]):
        print(f"    {name:<10} {seconds:7.2f} CPU-s  {seconds / expected * 1000:6.2f} ms per follow")
    print()
    print(f"RESULT follow page_rps={page['rps']:.0f} healthz_rps={healthz['rps']:.0f} page_ratio={page_ratio:.2f} "
          f"follow_rps={follows['rps']:.0f} ratio={ratio:.2f} "
          f"follow_p99_ms={ms(follows['p99'])} confirm_p95_s={s(confirm_p95)} confirm_max_s={s(confirm_max)} "
          f"mails={got}/{expected}" + (f" replica_share={page['replica_share']:.3f} "
                                        f"primary_cpu_ms_per_page={page['primary_cpu_ms']:.2f} "
                                        f"replica_cpu_ms_per_page={page['replica_cpu_ms']:.2f}" if pair else ""))


if __name__ == "__main__":
    main()
