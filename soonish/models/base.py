"""The database handle and the column types every model shares."""
import fcntl
import os
import sqlite3
import threading
import time
from datetime import datetime, timezone

from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import DateTime, MetaData, TypeDecorator, event, inspect
from sqlalchemy.dialects.postgresql import insert as postgres_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError, InvalidatePoolError
from sqlalchemy.orm import DeclarativeBase

from soonish.models.replicas import ReplicaRoutingSession

# Named constraints keep Alembic migrations identical on SQLite and PostgreSQL.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


db = SQLAlchemy(model_class=Base, session_options={"class_": ReplicaRoutingSession})


def insert_ignoring_duplicates(table):
    """INSERT … ON CONFLICT DO NOTHING on PostgreSQL and SQLite: the unique key decides."""
    insert = postgres_insert if db.engine.dialect.name == "postgresql" else sqlite_insert
    return insert(table).on_conflict_do_nothing()


class UniqueKeyTaken(IntegrityError):
    """Another transaction wrote the same unique key first: worth reading again and retrying.
    Every statement's unique violation is raised as this (``_unique_key_taken``), so a caller
    that handles a lost race catches only it; any other broken rule (a missing parent, a NULL)
    stays a plain IntegrityError, a fault that a retry only repeats."""


def is_unique_violation(exc: IntegrityError) -> bool:
    """Whether the database refused the statement for a unique key: PostgreSQL's SQLSTATE 23505,
    SQLite's own message (sqlite3 gives no code)."""
    original = exc.orig
    return getattr(original, "sqlstate", None) == "23505" or (
        isinstance(original, sqlite3.IntegrityError) and str(original).startswith("UNIQUE constraint failed"))


@event.listens_for(Engine, "handle_error", retval=True)
def _unique_key_taken(context):
    """SQLAlchemy's chained handle_error hook: a unique violation, on either database, is raised
    as UniqueKeyTaken (a subclass, so ``except IntegrityError`` still sees it)."""
    error = context.sqlalchemy_exception
    if isinstance(error, IntegrityError) and is_unique_violation(error):
        return UniqueKeyTaken(error.statement, error.params, error.orig, hide_parameters=error.hide_parameters,
                              ismulti=error.ismulti)
    return None


@event.listens_for(Engine, "connect")
def _sqlite_pragmas(dbapi_connection, _connection_record) -> None:
    """SQLite: write-ahead log, so readers never wait for the writer (the web app, and two
    workers each writing the ledger), and sync only at checkpoints. A power cut can lose the
    last commits but never corrupts the file; for the ledger that means at worst a resend with
    the same delivery key, as after any crash."""
    if isinstance(dbapi_connection, sqlite3.Connection):
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()


# SQLAlchemy's pool_pre_ping asks the server a SELECT 1 at every checkout: a round trip per
# request, 0.15-0.3 ms of the 3.5-4 ms of CPU a follow costs the web process on PostgreSQL, and
# the server's share besides. A connection checked in less than this ago was alive then, so
# only one idle for longer is asked, as HikariCP skips its check for connections used in the
# last 500 ms (aliveBypassWindowMs). One that died within that second fails its request, as one
# dropped mid-request would.
PING_AFTER_IDLE_SECONDS = 1.0


def ping_when_idle(engine: Engine) -> None:
    """pool_pre_ping for the engine's connections that sat idle: a dropped one is replaced,
    and every connection older than it, before a request uses it."""
    if engine.dialect.name == "sqlite":
        return  # a database file can't drop a connection as a server can
    dialect = engine.dialect

    @event.listens_for(engine, "connect")
    @event.listens_for(engine, "checkin")
    def _mark_alive(_dbapi_connection, record) -> None:
        record.info["alive_at"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _ping_if_idle(dbapi_connection, record, _proxy) -> None:
        if time.monotonic() - record.info.get("alive_at", float("-inf")) < PING_AFTER_IDLE_SECONDS:
            return
        # What pool_pre_ping does (Dialect._do_ping_w_event): a disconnect replaces the pool's
        # connections from before now; any other error is the caller's.
        try:
            dialect.do_ping(dbapi_connection)
        except dialect.loaded_dbapi.Error as exc:
            if dialect.is_disconnect(exc, dbapi_connection, None):
                raise InvalidatePoolError() from exc
            raise


_WRITES = ("INSERT", "UPDATE", "DELETE", "REPLACE")
SQLITE_BUSY_TIMEOUT = 5.0  # seconds a write waits for its turn (sqlite3's default busy timeout)


class OneWriterAtATime(sqlite3.Connection):
    """A SQLite connection whose write transactions take turns with every other connection to
    the same file, in this process (a lock) and in the others (an flock on a file beside it).

    SQLite has one write lock, and a connection that finds it taken sleeps 1, 2, 5, 10, 25 …
    100 ms before trying again (its busy handler): writers that arrive together sleep far
    longer than the lock is held (a follow holds it about a millisecond), the same process's
    next writer usually wins meanwhile, and bench/follow.py's burst of follows from two web
    processes had a p99 four times its median. A turn is handed over the moment the writer
    before commits. A write that can't get its turn within SQLITE_BUSY_TIMEOUT goes on without
    one and meets SQLite's own lock, as before. Each database file has turns of its own; an
    in-memory database (one per connection) needs none."""

    _locks: dict[str, threading.Lock] = {}  # per database, for the connections of this process
    _locks_guard = threading.Lock()

    def __init__(self, database, *args, **kwargs) -> None:
        super().__init__(database, *args, **kwargs)
        path = str(database)
        in_memory, uri = path in ("", ":memory:"), path.startswith("file:")
        self._in_process = None if in_memory else self._lock_for(path if uri else os.path.abspath(path))
        self._turn_file = None if in_memory or uri else f"{path}-writers.lock"
        self._turn_fd: int | None = None
        self._turn: tuple[bool, bool] | None = None  # (in-process lock held, file lock held)

    @classmethod
    def _lock_for(cls, database: str) -> threading.Lock:
        with cls._locks_guard:
            return cls._locks.setdefault(database, threading.Lock())

    def cursor(self, factory=None):
        return super().cursor(factory or _TakingTurnsCursor)

    # sqlite3's shortcuts make their cursor without calling cursor(): route them through it.
    def execute(self, sql, parameters=()):
        return self.cursor().execute(sql, parameters)

    def executemany(self, sql, seq_of_parameters):
        return self.cursor().executemany(sql, seq_of_parameters)

    def take_turn_for(self, statement: str) -> None:
        if self._in_process is None or self._turn is not None:
            return
        if statement.lstrip()[:7].upper().startswith(_WRITES):
            deadline = time.monotonic() + SQLITE_BUSY_TIMEOUT
            held_here = self._in_process.acquire(timeout=SQLITE_BUSY_TIMEOUT)
            self._turn = (held_here, held_here and self._lock_file(deadline))

    def _lock_file(self, deadline: float) -> bool:
        if self._turn_file is None:
            return False
        if self._turn_fd is None:
            self._turn_fd = os.open(self._turn_file, os.O_RDWR | os.O_CREAT, 0o600)
        pause = 0.0002
        while True:
            try:
                fcntl.flock(self._turn_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return True
            except BlockingIOError:
                if time.monotonic() > deadline:
                    return False
                time.sleep(pause)  # a blocking flock can't time out; a short poll can
                pause = min(pause * 2, 0.001)

    def _end_turn(self) -> None:
        if self._turn is None:
            return
        held_here, held_file = self._turn
        self._turn = None
        if held_file:
            fcntl.flock(self._turn_fd, fcntl.LOCK_UN)
        if held_here:
            self._in_process.release()

    def commit(self) -> None:
        try:
            super().commit()
        finally:
            self._end_turn()

    def rollback(self) -> None:
        try:
            super().rollback()
        finally:
            self._end_turn()

    def close(self) -> None:
        try:
            super().close()
        finally:
            self._end_turn()
            if self._turn_fd is not None:
                os.close(self._turn_fd)
                self._turn_fd = None


class _TakingTurnsCursor(sqlite3.Cursor):
    def execute(self, sql, parameters=()):
        self.connection.take_turn_for(sql)
        return super().execute(sql, parameters)

    def executemany(self, sql, seq_of_parameters):
        self.connection.take_turn_for(sql)
        return super().executemany(sql, seq_of_parameters)


def commit_keeping_loaded() -> None:
    """Commit without expiring the session's objects, for a caller that answers with what it
    has just written: reloading them after a plain commit costs a query per object (two on
    every follow)."""
    session = db.session()
    session.expire_on_commit = False
    try:
        session.commit()
    finally:
        session.expire_on_commit = True


def lock_for_change(row) -> None:
    """Hold ``row`` until the commit and read it afresh, so requests deciding on it take turns:
    of two that arrive together the second waits here and then sees what the first did.
    PostgreSQL: SELECT ... FOR UPDATE. SQLite has one writer, but a transaction only begins at
    its first write (sqlite3 runs the reads before it on their own), so two requests could both
    read the old state before either writes: a write that changes nothing begins the transaction
    and takes the writer's turn now, and what is read after it is current."""
    db.session.flush()  # refresh expires the row first: changes not yet flushed would be lost
    if db.session.get_bind().dialect.name == "sqlite":
        table, (key,) = type(row).__table__, type(row).__table__.primary_key.columns
        db.session.execute(table.update().where(key == inspect(row).identity[0]).values({key.name: key}))
    db.session.refresh(row, with_for_update=True)


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class UTCDateTime(TypeDecorator):
    """Stores aware datetimes as UTC and always returns them aware.

    SQLite has no time zones and hands back naive values; this keeps every datetime in the
    program aware so comparisons never mix naive and aware values.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(timezone.utc)

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=timezone.utc)
        return value.astimezone(timezone.utc)


def render_migration_item(type_, obj, autogen_context):
    """Alembic hook: write UTCDateTime as the plain column type it stores, so migrations
    never import application code."""
    if type_ == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    return False
