"""The embedded stack the benchmarks run on: processes, sinks, a Temporal dev server and a
scratch database, all on loopback, all stopped when the bench ends."""
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parents[1]
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_port(port: int, process: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while True:
        with socket.socket() as sock:
            sock.settimeout(0.5)
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        if process.poll() is not None:
            raise SystemExit(f"{process.args[0]} exited with {process.returncode}")
        if time.monotonic() > deadline:
            raise SystemExit(f"nothing listening on {port} after {timeout}s")
        time.sleep(0.1)


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


@dataclass
class Proc:
    name: str
    process: subprocess.Popen
    log: Path

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)


def spawn(name: str, args: list[str], logdir: Path, env: dict | None = None) -> Proc:
    log = logdir / f"{name}.log"
    handle = open(log, "wb")
    process = subprocess.Popen(args, stdout=handle, stderr=subprocess.STDOUT, env=env or os.environ.copy(),
                               cwd=str(ROOT))
    return Proc(name, process, log)


class Sink:
    def __init__(self, proc: Proc, port: int, stats_port: int) -> None:
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


def start_sink(kind: str, logdir: Path) -> Sink:
    port = free_port()
    stats_port = port if kind == "http" else free_port()
    args = [sys.executable, str(ROOT / "bench" / "sink.py"), kind, "--port", str(port)]
    if kind == "smtp":
        args += ["--stats-port", str(stats_port)]
    proc = spawn(f"{kind}-sink", args, logdir)
    wait_for_port(port, proc.process)
    wait_for_port(stats_port, proc.process)
    return Sink(proc, port, stats_port)


def start_temporal(logdir: Path) -> tuple[Proc, int]:
    port = free_port()
    binary = Path(sys.executable).with_name("temporal")
    proc = spawn("temporal", [str(binary if binary.exists() else "temporal"), "server", "start-dev",
                              "--ip", "127.0.0.1", "--port", str(port), "--headless", "--log-level", "error"],
                 logdir)
    wait_for_port(port, proc.process, timeout=90)
    return proc, port


class ScratchDatabase:
    """SQLite in the temp dir, or a throwaway database on the given PostgreSQL server."""

    def __init__(self, base_url: str | None, tmp: Path, name: str) -> None:
        self.base_url = base_url
        if not base_url:
            self.url = f"sqlite:///{tmp / (name + '.sqlite')}"
            return
        url = make_url(base_url)
        self.db_name = f"soonish_bench_{name}_{uuid.uuid4().hex[:8]}"
        self.admin = create_engine(url, isolation_level="AUTOCOMMIT")
        with self.admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{self.db_name}"'))
        self.url = url.set(database=self.db_name).render_as_string(hide_password=False)

    def drop(self) -> None:
        if self.base_url:
            with self.admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{self.db_name}" WITH (FORCE)'))
            self.admin.dispose()


# One mode --------------------------------------------------------------------------------------


def worker_env(config: dict, extra: dict) -> dict:
    env = os.environ.copy()
    env["PYTHONUNBUFFERED"] = "1"
    for name in ("DATABASE_URL", "SECRET_KEY", "TEMPORAL_ADDRESS", "TEMPORAL_NAMESPACE", "TEMPORAL_TASK_QUEUE",
                 "TEMPORAL_ID_PREFIX", "PUBLIC_URL", "SMTP_HOST", "SMTP_PORT", "MAIL_FROM"):
        env[f"SOONISH_{name}"] = str(config[name])
    env["SOONISH_SMTP_STARTTLS"] = "false"
    env["SOONISH_ALLOW_PRIVATE_TARGETS"] = "true"
    env.update(extra)
    return env


def wait_for_line(proc: Proc, needle: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while needle not in proc.log.read_text(errors="replace"):
        if proc.process.poll() is not None:
            raise SystemExit(f"{proc.name} exited:\n{proc.log.read_text(errors='replace')[-3000:]}")
        if time.monotonic() > deadline:
            raise SystemExit(f"{proc.name} not ready after {timeout}s")
        time.sleep(0.1)
