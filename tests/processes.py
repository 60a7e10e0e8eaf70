"""Soonish workers and Temporal dev servers as real processes, for crash and fault tests (and
bench/chaos.py): what a fault kills or restarts must be a process of its own."""
import os
import socket
import subprocess
import sys
from pathlib import Path

from .harness import installed_binary
from .sinks import free_port, wait_until

STARTUP_TIMEOUT = 60
STOP_TIMEOUT = 15
# The settings a worker process shares with the test's app, passed on as SOONISH_* variables.
SHARED_SETTINGS = ("DATABASE_URL", "SECRET_KEY", "TEMPORAL_ADDRESS", "TEMPORAL_NAMESPACE", "TEMPORAL_TASK_QUEUE",
                   "TEMPORAL_ID_PREFIX", "PUBLIC_URL")


def start_worker(app_config: dict, **settings) -> subprocess.Popen:
    """`soonish worker` for the test's app; ``settings`` (DELIVERY_BATCH_SIZE=50, ...) on top."""
    env = {**os.environ, "SOONISH_ALLOW_PRIVATE_TARGETS": "true"}
    env.update({f"SOONISH_{name}": str(app_config[name]) for name in SHARED_SETTINGS})
    env.update({f"SOONISH_{name}": str(value) for name, value in settings.items()})
    return subprocess.Popen([sys.executable, "-m", "soonish", "worker"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def wait_for_port(port: int, process: subprocess.Popen, name: str, timeout: float = STARTUP_TIMEOUT) -> None:
    def listening() -> bool:
        if process.poll() is not None:
            raise RuntimeError(f"{name} exited with code {process.returncode}")
        with socket.socket() as sock:
            return sock.connect_ex(("127.0.0.1", port)) == 0

    wait_until(listening, timeout, 0.1, f"{name} on port {port}")


def stop_process(process: subprocess.Popen) -> None:
    """SIGTERM, and SIGKILL if it has not exited in time."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(STOP_TIMEOUT)


class TemporalDevServer:
    """A Temporal dev server on a database file: stopped and started again on the same port, it
    comes back with its workflows, activities, timers and schedules."""

    def __init__(self, database: Path, log_path: Path | None = None) -> None:
        self.database = database
        self.log_path = log_path
        self.port = free_port()
        self.process: subprocess.Popen | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> "TemporalDevServer":
        with open(self.log_path or os.devnull, "ab") as out:
            self.process = subprocess.Popen(
                [installed_binary("temporal"), "server", "start-dev", "--ip", "127.0.0.1", "--port", str(self.port),
                 "--headless", "--db-filename", str(self.database), "--sqlite-pragma", "journal_mode=wal",
                 "--log-level", "warn"],
                stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
            )
        wait_for_port(self.port, self.process, "the Temporal dev server")
        return self

    def stop(self) -> None:
        if self.process is not None:
            stop_process(self.process)
