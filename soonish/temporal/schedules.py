"""Cron schedules of the daily runs (ledger retention, series materialization)."""
from dataclasses import dataclass
from typing import Any, Callable, ClassVar

from temporalio.client import (
    Client, Schedule, ScheduleActionStartWorkflow, ScheduleAlreadyRunningError, ScheduleOverlapPolicy, SchedulePolicy,
    ScheduleSpec, ScheduleUpdate,
)


@dataclass(frozen=True)
class CronScope:
    """A daily run's schedule: where it starts the run and when. Each run's subclass names its
    schedule, the setting holding its cron and what it starts."""

    id_prefix: str
    task_queue: str
    cron: str
    schedule_name: ClassVar[str]
    cron_setting: ClassVar[str]

    @classmethod
    def from_config(cls, config) -> "CronScope":
        return cls(config["TEMPORAL_ID_PREFIX"], config["TEMPORAL_TASK_QUEUE"], config[cls.cron_setting])

    @property
    def schedule_id(self) -> str:
        return f"{self.id_prefix}{self.schedule_name}"

    def starts(self) -> tuple[Callable, Any]:
        """The workflow's run method the schedule starts, and its argument."""
        raise NotImplementedError

    async def put(self, client: Client) -> str:
        """Create the schedule, or bring it in line with the settings. Returns "created" or "updated"."""
        return await put_cron_schedule(client, self.schedule_id, *self.starts(), self.task_queue, self.cron)


async def put_cron_schedule(client: Client, schedule_id: str, workflow_run, arg, task_queue: str, cron: str) -> str:
    """Create a schedule starting ``workflow_run(arg)`` on ``cron`` (UTC), or bring it in line
    with these settings (the ledger retention and series materialization runs). A run still
    going when the next is due: the new one is skipped, the running one covers it. Returns
    "created" or "updated"."""
    schedule = Schedule(
        action=ScheduleActionStartWorkflow(workflow_run, arg, id=schedule_id, task_queue=task_queue),
        spec=ScheduleSpec(cron_expressions=[cron]),
        policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP),
    )
    try:
        await client.create_schedule(schedule_id, schedule)
        return "created"
    except ScheduleAlreadyRunningError:
        await client.get_schedule_handle(schedule_id).update(lambda _: ScheduleUpdate(schedule=schedule))
        return "updated"
