#!/usr/bin/env python
"""Reminder benchmark: how late do reminders arrive, on the embedded stack?

    .venv/bin/python bench/reminders.py [--scenario one|burst|budget|all] [--lead 120] [--margin 60]

(a) "one": one event with --subscribers (10,000) subscribers sharing a 5-minute offset.
(b) "burst": --events (300) events with 10 subscribers each whose reminders fall due in the
    same second.
(c) "budget": one event with --subscribers (10,000) followers by email, all through the one
    mail server under its default budget (100 a second, shared by both workers through Redis
    at --redis-url): the slot must start early enough (delivery.reminders.sends_from).

(a) and (b) lift the sink's budgets as the other benches do (bench/stack.py SINK_BUDGETS: the
one loopback sink stands in for thousands of hosts); every send is still charged to them.

Each runs on its own Temporal dev server, SQLite (or --database-url), two `soonish worker`
processes and a json:// sink in its own process. Subscribers are written straight to the
database, then each event's workflow is told its reminders changed, so it creates one
Temporal Schedule per (event, offset) that fires --lead seconds before the reminder is due;
its ReminderWorkflow enrolls the reminder in the slot workflow of its due second, which plans
every reminder due then a little ahead and sends them at that second. The due time is set --margin seconds
beyond the lead, to leave room for the setup. Lateness is the sink's receipt time minus the
due time, for every delivery. Targets (issues 3, 22): (a) last ≤ 10 s, p50 ≤ 2 s; (b) p99 ≤ 3 s;
(c) last ≤ 5 s. The last line reads ``RESULT reminders one_p50_s=… one_last_s=… burst_p99_s=…
budget_bound_last_s=…`` (a scenario not run: "-").
"""
import argparse
import statistics
import sys
import tempfile
import time
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.stack import SINK_BUDGETS, start_sink  # noqa: E402
from soonish.models import User, db  # noqa: E402
from soonish.services.events import EventFields, create_event  # noqa: E402
from soonish.domain import outbox  # noqa: E402
from soonish.services.temporal import gateway  # noqa: E402
from soonish.temporal.reminders.schedules import ScheduleScope, list_reminder_schedules  # noqa: E402
from soonish.web import create_app  # noqa: E402
from loopback.processes import ScratchDatabase, TemporalDevServer, start_worker  # noqa: E402
from loopback.seeding import seed_subscribers  # noqa: E402

OFFSET = 300  # a 5-minute reminder


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def run_scenario(name: str, events: int, per_event: int, args, tmp: Path) -> tuple[list[str], list[float]]:
    """The scenario's report lines, and each delivery's lateness in seconds."""
    logdir = tmp / name
    logdir.mkdir()
    temporal = TemporalDevServer(log_path=logdir / "temporal.log").start()
    by_mail = name == "budget"
    sink = start_sink("smtp" if by_mail else "http", logdir)
    database = ScratchDatabase(f"soonish_bench_{name}", tmp, args.database_url)
    config = {
        "SECRET_KEY": "bench-secret-" + "x" * 32, "DATABASE_URL": database.url,
        "TEMPORAL_ADDRESS": temporal.address, "TEMPORAL_NAMESPACE": "default",
        "TEMPORAL_TASK_QUEUE": f"bench-{uuid.uuid4().hex[:8]}", "TEMPORAL_ID_PREFIX": "",
        "PUBLIC_URL": "http://bench.invalid", "SMTP_HOST": "127.0.0.1" if by_mail else "",
        "SMTP_PORT": sink.port if by_mail else 25, "SMTP_STARTTLS": False, "MAIL_FROM": "bench@bench.invalid",
        "REMINDER_LEAD_SECONDS": args.lead, "ALLOW_PRIVATE_TARGETS": True, "DEV": True,
    }
    # The mail server's default budget, shared by the workers as in production; the loopback
    # webhook sink's lifted (it stands in for many hosts).
    budgets = ({"BUDGET_REDIS_URL": args.redis_url, "BUDGET_KEY_PREFIX": f"bench-{uuid.uuid4().hex[:8]}"} if by_mail
               else SINK_BUDGETS)
    mail = {"SMTP_HOST": config["SMTP_HOST"], "SMTP_PORT": config["SMTP_PORT"], "SMTP_STARTTLS": "false"}
    app = create_app(config)
    workers = []
    try:
        with app.app_context():
            db.create_all()
        workers = [start_worker(config, f"worker{n}", logdir, REMINDER_LEAD_SECONDS=args.lead, LOG_LEVEL="WARNING",
                                **budgets, **mail)
                   for n in (1, 2)]
        for worker in workers:
            worker.wait_for_output("worker polling")

        due = (datetime.now(timezone.utc) + timedelta(seconds=args.lead + args.margin)).replace(microsecond=0)
        starts_at = due + timedelta(seconds=OFFSET)
        setup_began = time.monotonic()
        with app.app_context():
            organizer = User(email="organizer@bench.invalid")
            db.session.add(organizer)
            db.session.commit()
            created = [create_event(organizer, EventFields(title=f"Bench {i}", starts_at=starts_at)) for i in range(events)]
            for i, event in enumerate(created):
                hook = None if by_mail else lambda n, i=i: f"json://127.0.0.1:{sink.port}/e{i}/r{n}"
                seed_subscribers(app, event.id, per_event, prefix=f"e{i}-", webhook_url=hook, reminder_offsets=[OFFSET])
            for event in created:  # the workers' outbox drain tells each event's workflow
                outbox.reminders_changed(event)
            db.session.commit()
        setup_seconds = time.monotonic() - setup_began
        scope = ScheduleScope.from_config(app.config)
        with app.app_context():
            schedules_made = _wait_for_schedules(scope, events, due)
        total = events * per_event
        deadline = due + timedelta(seconds=args.timeout)
        while len(arrivals := sink.arrivals()) < total and datetime.now(timezone.utc) < deadline:
            time.sleep(1)
        lateness = [t - due.timestamp() for t in arrivals.values()]
        stats = sink.stats()
        lines = [f"({name}) {events} event(s) × {per_event} subscribers, reminder due {due:%H:%M:%S} UTC, "
                 f"lead {args.lead}s; setup took {setup_seconds:.1f}s",
                 f"    schedules created: {schedules_made} (one per event and offset)",
                 f"    delivered {len(arrivals)}/{total}, repeats {stats['repeats']}"]
        if lateness:
            lines.append(
                f"    lateness (receipt − due): p50 {percentile(lateness, .5):.2f}s  p99 {percentile(lateness, .99):.2f}s  "
                f"first {min(lateness):.2f}s  last {max(lateness):.2f}s  mean {statistics.fmean(lateness):.2f}s"
            )
        with app.app_context():
            lines += _timeline(due, events)
        return lines, lateness
    finally:
        for proc in [*workers, sink.proc, temporal]:
            proc.stop()
        database.drop()


HISTORY_STEPS = {
    "EVENT_TYPE_WORKFLOW_EXECUTION_STARTED": "started",
    "EVENT_TYPE_TIMER_FIRED": "timer fired",
    "EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED": "signal received",
    "EVENT_TYPE_ACTIVITY_TASK_SCHEDULED": "activity scheduled",
    "EVENT_TYPE_ACTIVITY_TASK_STARTED": "activity started",
    "EVENT_TYPE_ACTIVITY_TASK_COMPLETED": "activity completed",
    "EVENT_TYPE_SIGNAL_EXTERNAL_WORKFLOW_EXECUTION_INITIATED": "signal sent",
    "EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED": "completed",
}


def _timeline(due: datetime, events: int) -> list[str]:
    """Where the time went at the due second: the slot workflow's history, in seconds after
    the due time (it plans REMINDER_PLAN_AHEAD early, then only sends at the due time)."""
    from temporalio.api.enums.v1 import EventType

    async def history(client):
        steps = []
        async for workflow in client.list_workflows('WorkflowType="ReminderSlotWorkflow"'):
            async for event in client.get_workflow_handle(workflow.id, run_id=workflow.run_id).fetch_history_events():
                name = EventType.Name(event.event_type)
                if name in HISTORY_STEPS:
                    steps.append((event.event_time.ToDatetime(timezone.utc), HISTORY_STEPS[name]))
        return sorted(steps)

    summary: dict[str, list[float]] = {}
    for at, label in gateway().run(history):
        summary.setdefault(label, []).append((at - due).total_seconds())
    return ["    slot workflow, seconds after due (count: first … last): " + "; ".join(
        f"{label} ×{len(times)}: {times[0]:+.2f} … {times[-1]:+.2f}" if len(times) > 1 else f"{label} {times[0]:+.2f}"
        for label, times in summary.items()
    )]


def _wait_for_schedules(scope: ScheduleScope, events: int, due: datetime) -> int:
    """How many reminder schedules exist once every event's workflow has made its one
    (or when the schedules are about to fire)."""
    fire_at = due - scope.lead
    while True:
        made = sum(len(offsets) for offsets in gateway().run(lambda c: list_reminder_schedules(c, scope)).values())
        if made >= events or datetime.now(timezone.utc) >= fire_at - timedelta(seconds=2):
            return made
        time.sleep(1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scenario", choices=["one", "burst", "budget", "all"], default="all")
    parser.add_argument("--subscribers", type=int, default=10_000, help="for scenarios one and budget")
    parser.add_argument("--events", type=int, default=300, help="for scenario burst (10 subscribers each)")
    parser.add_argument("--lead", type=int, default=120, help="seconds a schedule fires before the due time")
    parser.add_argument("--margin", type=int, default=60, help="seconds of setup before the schedules fire")
    parser.add_argument("--timeout", type=int, default=120, help="seconds after the due time to wait")
    parser.add_argument("--database-url", help="a PostgreSQL server; the bench makes (and drops) its own database")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/0",
                        help="the shared budgets, for scenario budget")
    args = parser.parse_args()
    with open("/proc/loadavg") as f:
        load_before = f.read().split()[:3]
    sizes = {"one": (1, args.subscribers), "burst": (args.events, 10), "budget": (1, args.subscribers)}
    lines, lateness = [], {}
    with tempfile.TemporaryDirectory(prefix="soonish-reminders-") as tmp:
        for name, (events, per_event) in sizes.items():
            if args.scenario in (name, "all"):
                report, lateness[name] = run_scenario(name, events, per_event, args, Path(tmp))
                lines += report
    with open("/proc/loadavg") as f:
        load_after = f.read().split()[:3]
    print(f"reminders bench — {'PostgreSQL' if args.database_url else 'SQLite'}, 2 workers, "
          f"load {' '.join(load_before)} → {' '.join(load_after)}")
    print("\n".join(lines))
    print("targets: (one) last ≤ 10 s and p50 ≤ 2 s; (burst) p99 ≤ 3 s; (budget) last ≤ 5 s")

    def figure(name: str, share: float) -> str:
        return f"{percentile(lateness[name], share):.2f}" if lateness.get(name) else "-"

    print(f"RESULT reminders one_p50_s={figure('one', .5)} one_last_s={figure('one', 1)} "
          f"burst_p99_s={figure('burst', .99)} budget_bound_last_s={figure('budget', 1)}")


if __name__ == "__main__":
    main()
