"""The fast workflow layer: our real workflow classes on Temporal's time-skipping test server,
with each test's own mocked activities. No dev server, no app, no database, no worker of the
app: nothing here may ask for the suite's ``temporal_env``, ``app`` or ``worker``.

The test server's clock is shared by every test of the session and only moves forward (each
test's skipped days stay skipped), so a test reads "now" from ``workflow_env.get_current_time()``.
"""
import asyncio
import uuid
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from datetime import datetime

import pytest
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from soonish.temporal.worker import HEARTBEAT_THROTTLE, WORKFLOWS

from loopback.harness import installed_binary


@pytest.fixture(scope="session")
async def workflow_env():
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=installed_binary("temporal-test-server"))
    yield env
    await env.shutdown()


class Queues:
    """The task queues of one test's workers: workflows and the activities they call on
    ``workflows``, delivery batches on ``delivery`` (as in production, two queues)."""

    def __init__(self) -> None:
        self.workflows = f"wf-{uuid.uuid4().hex[:10]}"
        self.delivery = f"{self.workflows}-delivery"


@pytest.fixture
def run_workers(workflow_env):
    """``async with run_workers(activities, delivery_activities=()) as queues``: the workers of
    one test, registered as soonish.temporal.worker registers them (every workflow, the default
    sandbox, no eager activities), with the test's mocked activities in place of the real ones."""

    @asynccontextmanager
    async def running(activities: list, delivery_activities: list = ()):
        queues = Queues()
        async with AsyncExitStack() as stack:
            await stack.enter_async_context(Worker(
                workflow_env.client, task_queue=queues.workflows, workflows=WORKFLOWS, activities=activities,
                max_heartbeat_throttle_interval=HEARTBEAT_THROTTLE, disable_eager_activity_execution=True,
            ))
            if delivery_activities:
                await stack.enter_async_context(Worker(
                    workflow_env.client, task_queue=queues.delivery, activities=list(delivery_activities),
                    max_heartbeat_throttle_interval=HEARTBEAT_THROTTLE,
                ))
            yield queues

    return running


async def server_now(env: WorkflowEnvironment) -> datetime:
    """The test server's time in whole seconds, as the app stores event times."""
    return (await env.get_current_time()).replace(microsecond=0)


async def eventually(check: Callable[[], Awaitable[bool]], message: str, timeout: float = 10) -> None:
    """Until ``await check()`` is true, or fail after ``timeout`` seconds (of the real clock)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not await check():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for {message}")
        await asyncio.sleep(0.05)


@pytest.fixture(scope="session")
def temporal_env():
    """The suite's dev server has no place here (and ``app`` and ``worker`` need it): a test of
    this layer that asks for them, directly or through another fixture, fails at once."""
    pytest.fail("tests/workflows run on workflow_env, the time-skipping server; not on the dev server")
