"""Health probes under load: /healthz (liveness) and /readyz (readiness) hammered at full speed
through gunicorn (processes x threads, as deployed), counting the answers and the calls Temporal
received for them; then Temporal stops: how long until readiness says 503, and, once it is
back, until the web processes' shared clients have reconnected by themselves.

It starts its own Temporal dev server (with its request metrics on), gunicorn on a scratch
SQLite database, and stops them when done. The load comes from wrk when installed, else from an
aiohttp loop in this process (--client).

    .venv/bin/python bench/probes.py --seconds 10 --connections 32
"""
import argparse
import asyncio
import os
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections import Counter
from pathlib import Path

import aiohttp

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from soonish.config import Config  # noqa: E402
from loopback.processes import Child, TemporalDevServer, wait_for_port  # noqa: E402
from loopback.sinks import free_port, wait_until  # noqa: E402


def log(message: str) -> None:
    print(message, flush=True)




def status_of(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code
    except OSError:
        return 0


def wrk_load(url: str, seconds: float, connections: int) -> tuple[int, Counter]:
    """wrk's count of requests and of non-2xx/3xx answers (it reports no per-status counts)."""
    out = subprocess.run(["wrk", "-t2", f"-c{connections}", f"-d{int(seconds)}s", url],
                         capture_output=True, text=True, check=True).stdout
    log("  " + out.strip().replace("\n", "\n  "))
    total = int(re.search(r"(\d+) requests in", out)[1])
    bad = int(m[1]) if (m := re.search(r"Non-2xx or 3xx responses: (\d+)", out)) else 0
    errors = re.search(r"Socket errors: (.*)", out)
    statuses = Counter({200: total - bad, "non-2xx": bad})
    if errors:
        statuses["socket errors: " + errors[1]] = 1
    return total, statuses


async def aiohttp_load(url: str, seconds: float, connections: int) -> tuple[int, Counter]:
    statuses: Counter = Counter()
    deadline = time.monotonic() + seconds

    async def one_connection(session: aiohttp.ClientSession) -> None:
        while time.monotonic() < deadline:
            try:
                async with session.get(url) as response:
                    await response.read()
                    statuses[response.status] += 1
            except aiohttp.ClientError as exc:
                statuses[type(exc).__name__] += 1

    connector = aiohttp.TCPConnector(limit=connections)
    async with aiohttp.ClientSession(connector=connector) as session:
        await asyncio.gather(*(one_connection(session) for _ in range(connections)))
    return sum(statuses.values()), statuses


def hammer(url: str, args, temporal: TemporalDevServer) -> None:
    before = temporal.requests_answered("GetSystemInfo")
    started = time.monotonic()
    if args.client == "wrk":
        total, statuses = wrk_load(url, args.seconds, args.connections)
    else:
        total, statuses = asyncio.run(aiohttp_load(url, args.seconds, args.connections))
    elapsed = time.monotonic() - started
    calls = temporal.requests_answered("GetSystemInfo") - before
    ok = statuses.get(200, 0)
    log(f"{url.rsplit('/', 1)[1]:8} {total} requests in {elapsed:.1f} s ({total / elapsed:,.0f}/s, {args.client}, "
        f"{args.connections} connections): {100 * ok / max(total, 1):.2f}% 200 {dict(statuses)}; "
        f"Temporal GetSystemInfo calls {calls:.0f} (at most one per process per {args.cache_seconds:g} s: "
        f"{args.web_workers} x (1 + {elapsed:.1f} / {args.cache_seconds:g}) = "
        f"{args.web_workers * (1 + elapsed / args.cache_seconds):.1f})")


def time_until(url: str, wanted: int, timeout: float) -> float | None:
    """Seconds until ``url`` answers ``wanted`` on 10 probes in a row (probes reach any process)."""
    started, streak = time.monotonic(), 0
    while time.monotonic() - started < timeout:
        streak = streak + 1 if status_of(url) == wanted else 0
        if streak == 10:
            return time.monotonic() - started
        time.sleep(0.05)
    return None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--web-workers", type=int, default=Config.WEB_WORKERS)
    parser.add_argument("--threads", type=int, default=Config.WEB_THREADS)
    parser.add_argument("--cache-seconds", type=float, default=2.0, help="READINESS_CACHE_SECONDS")
    parser.add_argument("--client", choices=["wrk", "aiohttp"], default="wrk" if shutil.which("wrk") else "aiohttp")
    args = parser.parse_args()
    if args.client == "wrk" and not shutil.which("wrk"):
        parser.error("wrk is not installed (Debian: apt-get install -y wrk); or use --client aiohttp")
    if args.client == "aiohttp":
        log("load from an aiohttp loop in this process, not wrk (install it: apt-get install -y wrk): "
            "the rates below are that client's limit, not the web processes'")

    workdir = Path(tempfile.mkdtemp(prefix="soonish-probes-"))
    temporal = TemporalDevServer(log_path=workdir / "temporal.log", serve_metrics=True).start()
    port = free_port()
    env = {**os.environ, "SOONISH_DATABASE_URL": f"sqlite:///{workdir / 'probes.sqlite'}",
           "SOONISH_SECRET_KEY": secrets.token_urlsafe(32), "SOONISH_TEMPORAL_ADDRESS": temporal.address,
           "SOONISH_READINESS_CACHE_SECONDS": str(args.cache_seconds), "SOONISH_LOG_LEVEL": "WARNING"}
    gunicorn = str(Path(sys.executable).with_name("gunicorn"))
    web = Child("web", [gunicorn, "-w", str(args.web_workers), "--threads", str(args.threads),
                        "-b", f"127.0.0.1:{port}", "wsgi:app"], env, workdir)
    try:
        wait_for_port(port, web.process, "gunicorn")
        base = f"http://127.0.0.1:{port}"
        # Every gunicorn process booted (the port opens before they have) and connected.
        for _ in range(4 * args.web_workers):
            wait_until(lambda: status_of(base + "/readyz") == 200, 120, 0.2, "gunicorn to answer")
        log(f"gunicorn -w {args.web_workers} --threads {args.threads}; READINESS_CACHE_SECONDS {args.cache_seconds:g}")
        for path in ("/healthz", "/readyz"):
            hammer(base + path, args, temporal)
        temporal.stop()
        down = time_until(base + "/readyz", 503, 60)
        log(f"Temporal stopped: /readyz 503 on 10 probes in a row after {down:.1f} s; /healthz {status_of(base + '/healthz')}"
            if down is not None else "Temporal stopped: /readyz never turned 503 in 60 s")
        temporal.start()
        back = time_until(base + "/readyz", 200, 120)
        log(f"Temporal started again: /readyz 200 on 10 probes in a row after {back:.1f} s (clients reconnected by themselves)"
            if back is not None else "Temporal started again: /readyz not back to 200 in 120 s")
    finally:
        web.stop()
        temporal.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
