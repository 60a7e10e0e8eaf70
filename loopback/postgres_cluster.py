"""A PostgreSQL primary and a streaming replica of it, started from the tests (and bench/) on
free loopback ports in a temporary folder with the server binaries every machine has (initdb,
pg_basebackup -R, pg_ctl): the shared test server is not set up for replication, and a test must
be free to pause or stop its replica.

PostgreSQL refuses to run as root: as root, the binaries run as the ``postgres`` user."""
import glob
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from sqlalchemy import create_engine, text

from .sinks import free_port, wait_until

# Small and quick: a test cluster holds a few rows and is thrown away (no fsync). Commits are
# synchronous (without fsync, a write to the OS): a commit's record is then flushed when it
# returns, so the flush position is a point the replica is sure to reach (see caught_up).
SERVER_SETTINGS = {
    "listen_addresses": "127.0.0.1", "shared_buffers": "32MB", "max_connections": "60", "fsync": "off",
    "full_page_writes": "off", "wal_level": "replica", "max_wal_senders": "4",
    "hot_standby": "on", "log_min_messages": "warning",
}


def server_binaries() -> Path | None:
    """The folder of initdb, pg_ctl and pg_basebackup (the newest installed), or None."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda path: int(path.split("/")[4]))
    if found:
        return Path(found[-1]).parent
    on_path = shutil.which("initdb")
    return Path(on_path).parent if on_path and shutil.which("pg_basebackup") else None


def missing_reason() -> str | None:
    if server_binaries() is None:
        return "the PostgreSQL server binaries (initdb, pg_basebackup, pg_ctl) are not installed"
    if os.geteuid() == 0 and shutil.which("runuser") is None:
        return "running as root without runuser to start PostgreSQL as the postgres user"
    return None


class Server:
    def __init__(self, folder: Path, port: int) -> None:
        self.folder = folder
        self.port = port

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"

    def start(self) -> "Server":
        options = " ".join(f"-c {name}={value}" for name, value in
                           {**SERVER_SETTINGS, "port": self.port, "unix_socket_directories": self.folder.parent}.items())
        _run("pg_ctl", "-D", self.folder, "-l", f"{self.folder}.log", "-o", options, "-w", "-t", "60", "start")
        return self

    def stop(self) -> None:
        _run("pg_ctl", "-D", self.folder, "-m", "fast", "-w", "-t", "60", "stop", check=False)

    def execute(self, statement: str, database: str = "postgres"):
        engine = create_engine(self.url(database), isolation_level="AUTOCOMMIT")
        try:
            with engine.connect() as connection:
                result = connection.execute(text(statement))
                return result.all() if result.returns_rows else None
        finally:
            engine.dispose()


class ReplicatedPair:
    """A primary and its hot standby, each a server of its own on a port of its own."""

    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="soonish-pg-"))
        if os.geteuid() == 0:
            shutil.chown(self.root, "postgres", "postgres")
        self.primary = Server(self.root / "primary", free_port())
        self.replica = Server(self.root / "replica", free_port())

    def start(self) -> "ReplicatedPair":
        _run("initdb", "-D", self.primary.folder, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync")
        self.primary.start()
        # -R writes the standby's primary_conninfo and standby.signal: it streams from the start.
        _run("pg_basebackup", "-h", "127.0.0.1", "-p", self.primary.port, "-U", "postgres",
             "-D", self.replica.folder, "-R", "-X", "stream", "--no-sync")
        self.replica.start()
        return self

    def caught_up(self) -> bool:
        """Has the replica replayed every transaction the primary has committed so far?"""
        # The flush position: every commit is flushed before it returns. Not the insert position:
        # a record no commit follows (the background writer's snapshot of running transactions)
        # stays unflushed, so unsent, until the next commit or page, and a wait for it took 20 s.
        (written,), = self.primary.execute("SELECT pg_current_wal_flush_lsn()")
        (replayed,), = self.replica.execute(f"SELECT pg_last_wal_replay_lsn() >= '{written}'::pg_lsn")
        return bool(replayed)

    def wait_caught_up(self, timeout: float = 30) -> None:
        wait_until(self.caught_up, timeout, 0.05, "the replica to replay the primary's writes")

    def pause_replay(self) -> None:
        self.replica.execute("SELECT pg_wal_replay_pause()")

    def resume_replay(self) -> None:
        self.replica.execute("SELECT pg_wal_replay_resume()")

    def stop(self) -> None:
        self.replica.stop()
        self.primary.stop()
        shutil.rmtree(self.root, ignore_errors=True)


def _run(binary: str, *args, check: bool = True) -> None:
    argv = [str(server_binaries() / binary), *map(str, args)]
    if os.geteuid() == 0:
        argv = ["runuser", "-u", "postgres", "--", *argv]
    done = subprocess.run(argv, capture_output=True, text=True, cwd="/tmp")
    if check and done.returncode != 0:
        raise RuntimeError(f"{binary} failed ({done.returncode}): {done.stdout[-2000:]}{done.stderr[-2000:]}")
