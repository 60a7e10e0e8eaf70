"""The real things the fault tests and bench/ start and break: Soonish workers and Temporal dev
servers as processes of their own (what a fault kills or restarts must be one), and scratch
databases that runs sharing a PostgreSQL server never collide in."""
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Mapping
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from soonish.temporal.delivery.types import temporal_dev_server_args

from .harness import installed_binary
from .sinks import free_port, wait_until

ROOT = Path(__file__).resolve().parents[1]
STARTUP_TIMEOUT = 60
STOP_TIMEOUT = 15
# The settings a worker process shares with the app that starts it, passed on as SOONISH_* variables.
SHARED_SETTINGS = ("DATABASE_URL", "SECRET_KEY", "TEMPORAL_ADDRESS", "TEMPORAL_NAMESPACE", "TEMPORAL_TASK_QUEUE",
                   "TEMPORAL_DELIVERY_TASK_QUEUE", "TEMPORAL_ID_PREFIX", "PUBLIC_URL")


def stop_process(process: subprocess.Popen) -> None:
    """SIGTERM, and SIGKILL if it has not exited in time."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(STOP_TIMEOUT)


def wait_for_port(port: int, process: subprocess.Popen, name: str, timeout: float = STARTUP_TIMEOUT) -> None:
    def listening() -> bool:
        if process.poll() is not None:
            raise RuntimeError(f"{name} exited with code {process.returncode}")
        with socket.socket() as sock:
            return sock.connect_ex(("127.0.0.1", port)) == 0

    wait_until(listening, timeout, 0.1, f"{name} on port {port}")


class Child:
    """One process, its output in ``log_dir/<name>.log`` (discarded without a log_dir). It runs
    in a session of its own, so a Ctrl-C meant for the test run reaches it only through stop()."""

    def __init__(self, name: str, argv: list[str], env: Mapping | None = None, log_dir: Path | None = None) -> None:
        self.name = name
        self.log_path = log_dir / f"{name}.log" if log_dir else None
        with open(self.log_path or os.devnull, "ab") as out:
            self.process = subprocess.Popen(argv, env=dict(env or os.environ), cwd=ROOT, stdout=out,
                                            stderr=subprocess.STDOUT, start_new_session=True)

    @property
    def pid(self) -> int:
        return self.process.pid

    def output(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path else ""

    def wait_for_output(self, needle: str, timeout: float = STARTUP_TIMEOUT) -> None:
        def printed() -> bool:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited with code {self.process.returncode}:\n{self.output()[-3000:]}")
            return needle in self.output()

        wait_until(printed, timeout, 0.1, f"{self.name} to print {needle!r}")

    def stop(self) -> None:
        stop_process(self.process)

    def kill(self) -> None:
        """kill -9, as a crash would."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(STOP_TIMEOUT)


def soonish_env(config: Mapping, **settings) -> dict:
    """The environment of a `soonish` process sharing ``config``'s database and Temporal
    server, with ``settings`` (DELIVERY_BATCH_SIZE=50, ...) on top."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "SOONISH_ALLOW_PRIVATE_TARGETS": "true"}  # sinks are on loopback
    env.update({f"SOONISH_{name}": str(config[name]) for name in SHARED_SETTINGS if name in config})
    env.update({f"SOONISH_{name}": str(value) for name, value in settings.items()})
    return env


def start_soonish(command: list[str], config: Mapping, name: str, log_dir: Path | None = None, **settings) -> Child:
    """`soonish <command…>` as a process of its own; see soonish_env for ``settings``."""
    return Child(name, [sys.executable, "-m", "soonish", *command], soonish_env(config, **settings), log_dir)


def start_worker(config: Mapping, name: str = "worker", log_dir: Path | None = None, **settings) -> Child:
    return start_soonish(["worker"], config, name, log_dir, **settings)


class TemporalDevServer:
    """A Temporal dev server on a port of its own. On a database file, stopped and started again,
    it comes back with its workflows, activities, timers and schedules; without one it keeps
    everything in memory."""

    def __init__(self, database: Path | None = None, log_path: Path | None = None, serve_metrics: bool = False) -> None:
        self.database = database
        self.log_path = log_path
        self.port = free_port()
        # The server's own Prometheus metrics (requests per operation), when asked for.
        self.metrics_port = free_port() if serve_metrics else None
        self.process: subprocess.Popen | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> "TemporalDevServer":
        storage = ["--db-filename", str(self.database), "--sqlite-pragma", "journal_mode=wal"] if self.database else []
        metrics = ["--metrics-port", str(self.metrics_port)] if self.metrics_port else []
        with open(self.log_path or os.devnull, "ab") as out:
            self.process = subprocess.Popen(
                [installed_binary("temporal"), "server", "start-dev", "--ip", "127.0.0.1", "--port", str(self.port),
                 "--headless", *storage, *metrics, "--log-level", "warn", *temporal_dev_server_args()],
                stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
            )
        wait_for_port(self.port, self.process, "the Temporal dev server", timeout=90)
        return self

    def stop(self) -> None:
        if self.process is not None:
            stop_process(self.process)

    def requests_answered(self, operation: str) -> float:
        """Requests of this gRPC operation (GetSystemInfo, ...) the server has answered so far, by
        its own metrics (serve_metrics), once they have settled: it publishes them every second or so."""
        previous = None
        while (current := self.exposed_requests(operation)) != previous:
            previous = current
            time.sleep(2)  # on purpose: a publishing interval or so, to see whether the count still moves
        return current

    def exposed_requests(self, operation: str) -> float:
        """The count as the server's metrics show it right now (may lag a second behind)."""
        with urllib.request.urlopen(f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=10) as response:
            exposition = response.read().decode()
        return sum(
            float(line.rsplit(" ", 1)[1]) for line in exposition.splitlines()
            if line.startswith("service_requests{") and f'operation="{operation}"' in line
        )


class ScratchDatabase:
    """A database for one run: a SQLite file in ``folder``, or, given a PostgreSQL server's URL,
    a database of its own made there and removed by drop()."""

    def __init__(self, name: str, folder: Path | None = None, server_url: str | None = None) -> None:
        self.server_url = server_url
        if not server_url:
            self.url = f"sqlite:///{folder / f'{name}.sqlite'}"
            return
        self.name = f"{name}_{uuid.uuid4().hex[:8]}"
        self._admin = create_engine(server_url, isolation_level="AUTOCOMMIT")
        with self._admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{self.name}"'))
        self.url = make_url(server_url).set(database=self.name).render_as_string(hide_password=False)

    def drop(self) -> None:
        if self.server_url:
            with self._admin.connect() as connection:
                connection.execute(text(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)'))
            self._admin.dispose()
