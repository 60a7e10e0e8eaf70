"""SQLite write transactions take turns (soonish.models.base.OneWriterAtATime): a second writer
waits for the first's commit or rollback, then goes at once; readers never wait."""
import multiprocessing
import sqlite3
import threading
import time

from soonish.models.base import OneWriterAtATime


def connect(path) -> sqlite3.Connection:
    connection = sqlite3.connect(str(path), factory=OneWriterAtATime, check_same_thread=False)
    connection.execute("PRAGMA journal_mode=WAL")
    return connection


def make_table(path) -> None:
    connection = connect(path)
    connection.execute("CREATE TABLE marks (who TEXT, at REAL)")
    connection.commit()
    connection.close()


def write_in_thread(path, who: str, done: list) -> threading.Thread:
    def write() -> None:
        connection = connect(path)
        connection.execute("INSERT INTO marks VALUES (?, ?)", (who, time.monotonic()))
        connection.commit()
        done.append((who, time.monotonic()))
        connection.close()

    thread = threading.Thread(target=write)
    thread.start()
    return thread


def test_a_second_writer_waits_for_the_first_to_commit_and_readers_do_not_wait(tmp_path):
    path = tmp_path / "turns.sqlite"
    make_table(path)
    first = connect(path)
    first.execute("INSERT INTO marks VALUES ('first', 0)")
    done: list = []
    second = write_in_thread(path, "second", done)
    time.sleep(0.3)  # on purpose: time the second writer would need to write, were its turn free
    assert done == []  # still waiting for its turn
    reader = connect(path)
    assert reader.execute("SELECT count(*) FROM marks").fetchone() == (0,)  # reads go on meanwhile
    committed_at = time.monotonic()
    first.commit()
    second.join(timeout=5)
    assert [who for who, _ in done] == ["second"]
    assert done[0][1] >= committed_at  # it wrote only once the first had committed
    assert reader.execute("SELECT who FROM marks ORDER BY who").fetchall() == [("first",), ("second",)]


def test_a_rollback_or_a_close_ends_the_turn(tmp_path):
    path = tmp_path / "turns.sqlite"
    make_table(path)
    rolled_back = connect(path)
    rolled_back.execute("INSERT INTO marks VALUES ('gone', 0)")
    rolled_back.rollback()
    closed = connect(path)
    closed.execute("UPDATE marks SET who = 'x'")
    closed.close()
    done: list = []
    write_in_thread(path, "next", done).join(timeout=2)
    assert [who for who, _ in done] == ["next"]


def test_writers_to_another_database_do_not_wait(tmp_path):
    busy, other = tmp_path / "busy.sqlite", tmp_path / "other.sqlite"
    make_table(busy)
    make_table(other)
    holding = connect(busy)
    holding.execute("INSERT INTO marks VALUES ('held', 0)")
    done: list = []
    write_in_thread(other, "elsewhere", done).join(timeout=2)
    assert [who for who, _ in done] == ["elsewhere"]  # while the other file's turn is held
    holding.commit()


def hold_a_write(path, holding, release) -> None:
    connection = connect(path)
    connection.execute("INSERT INTO marks VALUES ('other process', 0)")
    holding.set()
    release.wait(10)
    connection.commit()


def test_writers_in_other_processes_take_turns_too(tmp_path):
    path = tmp_path / "turns.sqlite"
    make_table(path)
    context = multiprocessing.get_context("spawn")
    holding, release = context.Event(), context.Event()
    other = context.Process(target=hold_a_write, args=(path, holding, release))
    other.start()
    try:
        assert holding.wait(30)
        done: list = []
        here = write_in_thread(path, "here", done)
        time.sleep(0.3)  # on purpose: time this writer would need to write, were its turn free
        assert done == []  # the other process has the turn
        release.set()
        here.join(timeout=5)
        assert [who for who, _ in done] == ["here"]
    finally:
        release.set()
        other.join(timeout=10)
