"""Cron schedules of the daily runs (ledger retention, series materialization)."""
from dataclasses import dataclass
from typing import ClassVar

from temporalio.client import (
    Client, Schedule, ScheduleActionStartWorkflow, ScheduleAlreadyRunningError, ScheduleOverlapPolicy, SchedulePolicy,
    ScheduleSpec, ScheduleUpdate,
)


@dataclass(frozen=True)
class CronScope:
    """Where a daily run's schedule starts it, and when: ``cron_setting`` names the setting."""

    id_prefix: str
    task_queue: str
    cron: str
    cron_setting: ClassVar[str]

    @classmethod
    def from_config(cls, config) -> "CronScope":
        return cls(config["TEMPORAL_ID_PREFIX"], config["TEMPORAL_TASK_QUEUE"], config[cls.cron_setting])


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
