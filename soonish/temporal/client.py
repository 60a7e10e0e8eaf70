"""The one bridge from synchronous Flask code to the asyncio Temporal client.

Flask views and CLI commands are synchronous; temporalio is asyncio. Each process runs one
background event loop thread holding one connected client, and callers submit coroutines to it.
"""
import asyncio
import threading
from concurrent.futures import Future
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Awaitable, Callable, TypeVar

from temporalio.api.workflowservice.v1 import GetSystemInfoRequest
from temporalio.client import Client, TLSConfig
from temporalio.runtime import Runtime
from temporalio.service import RPCError

from soonish.config import FromConfig
from soonish.temporal.events.types import EventWorkflowState, event_workflow_id
from soonish.temporal.events.workflow import EventWorkflow

T = TypeVar("T")
CALL_TIMEOUT_SECONDS = 30


class TemporalUnavailable(Exception):
    """The Temporal server could not be reached or refused the call."""


@dataclass(frozen=True)
class TemporalSettings(FromConfig):
    config_prefix = "TEMPORAL_"

    address: str
    namespace: str
    task_queue: str
    id_prefix: str = ""
    api_key: str = ""
    tls: bool = False
    tls_cert: str = ""
    tls_key: str = ""
    tls_ca: str = ""

    def tls_config(self) -> TLSConfig | bool:
        if not (self.tls or self.api_key or self.tls_cert):
            return False

        def read(path: str) -> bytes | None:
            if not path:
                return None
            with open(path, "rb") as f:
                return f.read()

        return TLSConfig(
            client_cert=read(self.tls_cert),
            client_private_key=read(self.tls_key),
            server_root_ca_cert=read(self.tls_ca),
        )

    async def connect(self, runtime: Runtime | None = None) -> Client:
        return await Client.connect(
            self.address,
            namespace=self.namespace,
            api_key=self.api_key or None,
            tls=self.tls_config(),
            runtime=runtime,
        )


async def signal_with_start(client: Client, settings: TemporalSettings, params: EventWorkflowState,
                            signal: str, *payload: Any) -> None:
    """Signal an event's workflow, starting it first if it is not running (see
    TemporalGateway._signal_with_start); also used by the worker's outbox drain."""
    await client.start_workflow(
        EventWorkflow.run,
        params,
        id=event_workflow_id(settings.id_prefix, params.event_id),
        task_queue=settings.task_queue,
        start_signal=signal,
        start_signal_args=list(payload),
    )


class _LoopThread:
    """A daemon thread running one asyncio loop for the whole process."""

    _lock = threading.Lock()
    _loop: asyncio.AbstractEventLoop | None = None

    @classmethod
    def submit(cls, coro: Awaitable[T]) -> Future:
        with cls._lock:
            if cls._loop is None or cls._loop.is_closed():
                loop = asyncio.new_event_loop()
                threading.Thread(target=loop.run_forever, name="temporal-client", daemon=True).start()
                cls._loop = loop
        return asyncio.run_coroutine_threadsafe(coro, cls._loop)


class TemporalGateway:
    """What the gateway (services/temporal.py) uses to reach Temporal synchronously: readiness
    and the schedule repair. An operation's effects go through the outbox instead."""

    def __init__(self, settings: TemporalSettings) -> None:
        self.settings = settings
        self._client: Client | None = None
        self._connect_lock: asyncio.Lock | None = None

    async def client(self) -> Client:
        if self._client is None:
            if self._connect_lock is None:
                self._connect_lock = asyncio.Lock()
            async with self._connect_lock:
                if self._client is None:
                    self._client = await self.settings.connect()
        return self._client

    def run(self, call: Callable[[Client], Awaitable[T]], timeout: float = CALL_TIMEOUT_SECONDS) -> T:
        """Run ``call(client)`` on the client's loop and wait for its result."""

        async def with_client():
            return await call(await self.client())

        try:
            # wait_for cancels the call on the loop at the deadline: a hung connect does not linger.
            return _LoopThread.submit(asyncio.wait_for(with_client(), timeout)).result(timeout=timeout + 1)
        except (RPCError, RuntimeError, TimeoutError, OSError) as exc:
            raise TemporalUnavailable(str(exc) or type(exc).__name__) from exc

    def ping(self, timeout: float) -> None:
        """One cheap round trip to the server; raises TemporalUnavailable when it does not answer."""

        async def system_info(client: Client) -> Any:
            return await client.workflow_service.get_system_info(
                GetSystemInfoRequest(), timeout=timedelta(seconds=timeout)
            )

        self.run(system_info, timeout)

    def reminders_changed(self, params: EventWorkflowState) -> None:
        self._signal_with_start(params, "reminders_changed")

    def _signal_with_start(self, params: EventWorkflowState, signal: str, *payload: Any) -> None:
        """Signal the event's workflow, starting it first if it is not running.

        Starting on demand repairs an event whose workflow never started (the server was down
        at creation) or has already finished (an ended event moved to the future, or an
        announcement after the end).
        """

        self.run(lambda client: signal_with_start(client, self.settings, params, signal, *payload))
