"""Cron schedules of the daily runs (ledger retention, series materialization)."""
from temporalio.client import (
    Client, Schedule, ScheduleActionStartWorkflow, ScheduleAlreadyRunningError, ScheduleOverlapPolicy, SchedulePolicy,
    ScheduleSpec, ScheduleUpdate,
)


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
