"""What only the benchmarks need on top of loopback/processes.py: CPU accounting, and sinks in
processes of their own (bench/sink.py), so a sink's work never shares the bench's interpreter."""
import json
import os
import sys
import time
import urllib.request
from pathlib import Path

from loopback.processes import ROOT, Child, wait_for_port
from loopback.sinks import free_port

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")

# A bench's sink is one loopback host standing in for thousands of receivers (webhooks on as
# many hosts, a mail provider that takes what it is sent). Each worker's delivery budget for
# one host (BUDGET_WEBHOOK_HOST, BUDGET_SMTP_HOST: 100/s by default) would pace a whole
# broadcast to that one host and measure the budget, so the benches' workers get this instead.
# Every send is still charged to its budget: the pacing's cost stays in the figures.
SINK_BUDGETS = {"BUDGET_WEBHOOK_HOST": "100000 per second", "BUDGET_SMTP_HOST": "100000 per second"}


def cpu_seconds(pid: int) -> float:
    """User + system CPU a process has used so far."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError):
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def machine_busy_seconds() -> float:
    """CPU seconds the whole machine spent busy (all processes, all cores)."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = values[3] + values[4]  # idle + iowait
    return (sum(values[:8]) - idle) / CLOCK_TICKS


class Sink:
    def __init__(self, proc: Child, port: int, stats_port: int) -> None:
        self.proc, self.port, self.stats_port = proc, port, stats_port

    def _call(self, path: str, method: str = "GET") -> dict:
        request = urllib.request.Request(f"http://127.0.0.1:{self.stats_port}{path}", method=method)
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.loads(response.read())

    def stats(self) -> dict:
        return self._call("/_stats")

    def reset(self) -> None:
        self._call("/_reset", "POST")

    def arrivals(self) -> dict[str, float]:
        """Each delivery key's first arrival, as a Unix time."""
        return self._call("/_arrivals")

    def wait_for(self, expected: int, stall_timeout: float, label: str = "") -> dict:
        """Its stats once it has seen ``expected`` delivery keys, or once nothing more arrived
        for ``stall_timeout`` seconds (polled gently: the bench shares the cores)."""
        last_progress, last_count = time.monotonic(), -1
        while True:
            stats = self.stats()
            if stats["unique"] >= expected:
                return stats
            if stats["count"] != last_count:
                last_count, last_progress = stats["count"], time.monotonic()
            elif time.monotonic() - last_progress > stall_timeout:
                print(f"  {label}stalled at {stats['count']} received", flush=True)
                return stats
            time.sleep(0.25)


def start_sink(kind: str, logdir: Path, *options: str) -> Sink:
    """``options``: more of bench/sink.py's arguments (the push sink's --seed and --vapid-key, the mail sink's --bounce-rate)."""
    port = free_port()
    stats_port = free_port() if kind == "smtp" else port
    args = [sys.executable, str(ROOT / "bench" / "sink.py"), kind, "--port", str(port), *options]
    if kind == "smtp":
        args += ["--stats-port", str(stats_port)]
    proc = Child(f"{kind}-sink", args, log_dir=logdir)
    wait_for_port(port, proc.process, proc.name)
    wait_for_port(stats_port, proc.process, proc.name)
    return Sink(proc, port, stats_port)


def bench_organizer(app) -> dict:
    """Make the tables and the bench's organizer; the headers its API calls carry."""
    from soonish.models import User, db
    from soonish.web.tokens import issue_token

    with app.app_context():
        db.create_all()
        organizer = User(email="organizer@soonish.bench", display_name="Organizer")
        db.session.add(organizer)
        db.session.commit()
        token, _ = issue_token(organizer)
    return {"Authorization": f"Bearer {token}"}
