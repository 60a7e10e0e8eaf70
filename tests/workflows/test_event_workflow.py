"""EventWorkflow's logic with its activities mocked: what it asks the activities to do, in what
order and when, for each thing that can happen to an event (the activities' own work is the
domain tests' and the end-to-end tests')."""
import asyncio
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from temporalio import activity
from temporalio.client import WorkflowExecutionStatus
from temporalio.service import RPCError

from soonish.temporal.delivery.types import (
    ActivityName,
    BatchResult,
    DeliveryBatch,
    FanoutPlan,
    NotificationRef,
    SubscriptionRange,
)
from soonish.temporal.events.types import (
    CoalescedUpdate,
    EventChange,
    EventRef,
    EventWorkflowState,
    HeldUpdates,
    NotifyRequest,
)
from soonish.temporal.events.types import ReminderSync, ReminderSyncResult
from soonish.temporal.delivery.types import NOTIFICATION_SETTLED
from soonish.temporal.events.workflow import EventWorkflow

from .conftest import eventually, server_now

EVENT_ID = 7
# Recorded when a mocked delivery batch returns (not an activity): a batch held while the event is
# cancelled must still run to its end.
BATCH_FINISHED = "deliver_batch returned"


@dataclass
class Call:
    name: str
    arg: object
    # When the server scheduled this attempt (the test server's skipped clock), and on which queue.
    at: datetime
    task_queue: str


class MockedEventActivities:
    """The activities EventWorkflow calls, by their real names, recording every call in order.
    Canned answers: each notification plans into ``ranges`` of subscriptions; held updates
    coalesce into ``coalesced``; reminder syncs answer ``synced`` in turn (the last one repeated)."""

    def __init__(self, ranges=((1, 500), (501, 800)), coalesced: int | None = None,
                 synced=(ReminderSyncResult([], 0),)) -> None:
        self.calls: list[Call] = []
        self.ranges = [SubscriptionRange(*pair) for pair in ranges]
        self.coalesced = coalesced
        self.synced = list(synced)
        self.delivery_task_queue = ""  # told once the test's queues exist
        # Set by a test to hold delivery batches until it lets them go.
        self.batches_held: asyncio.Event | None = None
        self.batch_running = asyncio.Event()

    def _record(self, name: str, arg) -> None:
        info = activity.info()
        self.calls.append(Call(name, arg, info.current_attempt_scheduled_time, info.task_queue))

    @activity.defn(name=ActivityName.SYNC_REMINDERS)
    async def sync_reminders(self, sync: ReminderSync) -> ReminderSyncResult:
        self._record(ActivityName.SYNC_REMINDERS, sync)
        return self.synced.pop(0) if len(self.synced) > 1 else self.synced[0]

    @activity.defn(name=ActivityName.PLAN_FANOUT)
    async def plan_fanout(self, ref: NotificationRef) -> FanoutPlan:
        self._record(ActivityName.PLAN_FANOUT, ref)
        return FanoutPlan(ref.notification_id, self.ranges, self.delivery_task_queue)

    @activity.defn(name=ActivityName.DELIVER_BATCH)
    async def deliver_batch(self, batch: DeliveryBatch) -> BatchResult:
        self._record(ActivityName.DELIVER_BATCH, batch)
        self.batch_running.set()
        while self.batches_held is not None and not self.batches_held.is_set():
            activity.heartbeat()  # as the real batch does, or its 2 s heartbeat timeout moves it
            try:
                await asyncio.wait_for(self.batches_held.wait(), 0.2)
            except asyncio.TimeoutError:
                pass
        self._record(BATCH_FINISHED, batch)
        return BatchResult(sent=batch.subscriptions.last_id - batch.subscriptions.first_id + 1)

    @activity.defn(name=NOTIFICATION_SETTLED)
    async def notification_settled(self, ref: NotificationRef) -> None:
        self._record(NOTIFICATION_SETTLED, ref)

    @activity.defn(name=ActivityName.COALESCE_UPDATES)
    async def coalesce_updates(self, held: HeldUpdates) -> CoalescedUpdate:
        self._record(ActivityName.COALESCE_UPDATES, held)
        return CoalescedUpdate(self.coalesced)

    @activity.defn(name=ActivityName.COMPLETE_EVENT)
    async def complete_event(self, ref: EventRef) -> None:
        self._record(ActivityName.COMPLETE_EVENT, ref)

    def workflow_activities(self) -> list:
        return [self.sync_reminders, self.plan_fanout, self.notification_settled, self.coalesce_updates,
                self.complete_event]

    def of(self, name: str) -> list[Call]:
        return [call for call in self.calls if call.name == name]

    def planned(self) -> list[int]:
        return [call.arg.notification_id for call in self.of(ActivityName.PLAN_FANOUT)]


async def start_event(env, queues, mocked: MockedEventActivities, **carried):
    """The event's workflow as the outbox drain starts it: the event starts in a day, no end."""
    mocked.delivery_task_queue = queues.delivery
    now = await server_now(env)
    params = replace(EventWorkflowState(EVENT_ID, version=1, starts_at=now + timedelta(days=1), ends_at=None), **carried)
    return await env.client.start_workflow(
        EventWorkflow.run, params, id=f"event-{EVENT_ID}-{queues.workflows}", task_queue=queues.workflows)


async def test_queued_notifications_go_out_one_after_another_in_batches_on_the_delivery_queue(
        workflow_env, run_workers):
    mocked = MockedEventActivities()
    async with run_workers(mocked.workflow_activities(), [mocked.deliver_batch]) as queues:
        handle = await start_event(workflow_env, queues, mocked, pending_notification_ids=[1])
        await handle.signal(EventWorkflow.notify, NotifyRequest(2))
        await handle.signal(EventWorkflow.notify, NotifyRequest(3))
        assert await handle.result() == "completed"

    assert mocked.planned() == [1, 2, 3]
    assert [call.arg.notification_id for call in mocked.of(NOTIFICATION_SETTLED)] == [1, 2, 3]
    names = [call.name for call in mocked.calls]
    for notification_id in (1, 2, 3):
        plan = mocked.calls.index(next(c for c in mocked.of(ActivityName.PLAN_FANOUT)
                                       if c.arg.notification_id == notification_id))
        settled = mocked.calls.index(next(c for c in mocked.of(NOTIFICATION_SETTLED)
                                          if c.arg.notification_id == notification_id))
        # Every range of its plan delivered once, on the delivery queue, between its plan and its settling.
        batches = [call for call in mocked.of(ActivityName.DELIVER_BATCH) if call.arg.notification_id == notification_id]
        assert sorted((b.arg.subscriptions.first_id, b.arg.subscriptions.last_id) for b in batches) == [(1, 500), (501, 800)]
        assert {b.task_queue for b in batches} == {queues.delivery}
        assert all(plan < mocked.calls.index(b) < settled for b in batches)
    # The event reached its start (it has no end): completed, then its schedules synced away.
    assert names[-2:] == [ActivityName.COMPLETE_EVENT, ActivityName.SYNC_REMINDERS]
    assert mocked.of(ActivityName.COMPLETE_EVENT)[0].arg == EventRef(EVENT_ID)


async def test_a_repeated_notify_signal_sends_its_notification_once(workflow_env, run_workers):
    mocked = MockedEventActivities(ranges=[(1, 10)])
    async with run_workers(mocked.workflow_activities(), [mocked.deliver_batch]) as queues:
        handle = await start_event(workflow_env, queues, mocked)
        await handle.signal(EventWorkflow.notify, NotifyRequest(5))
        await handle.signal(EventWorkflow.notify, NotifyRequest(5))  # while the first is queued or out

        async def delivered() -> bool:
            return (await handle.query(EventWorkflow.current_state)).recent_notification_ids == [5]

        await eventually(delivered, "notification 5 delivered")
        await handle.signal(EventWorkflow.notify, NotifyRequest(5))  # after it went out
        await handle.signal(EventWorkflow.notify, NotifyRequest(6))
        assert await handle.result() == "completed"

    assert mocked.planned() == [5, 6]
    assert [call.arg.notification_id for call in mocked.of(ActivityName.DELIVER_BATCH)] == [5, 6]


async def test_updates_within_the_window_go_out_as_the_one_the_coalesce_activity_makes(workflow_env, run_workers):
    mocked = MockedEventActivities(coalesced=20)
    async with run_workers(mocked.workflow_activities(), [mocked.deliver_batch]) as queues:
        handle = await start_event(workflow_env, queues, mocked, update_coalesce_seconds=300)
        started = (await handle.describe()).start_time
        starts_at = started.replace(microsecond=0) + timedelta(days=1)
        for version, notification_id in ((2, 10), (3, 11), (4, 12)):
            await handle.signal(EventWorkflow.event_updated, EventChange(version, starts_at, None, notification_id))

        async def all_taken() -> bool:
            return (await handle.query(EventWorkflow.current_state)).version == 4

        await eventually(all_taken, "the three updates taken")
        assert (await handle.query(EventWorkflow.current_state)).pending_notification_ids == []  # held, not queued
        assert await handle.result() == "completed"

    [coalesce] = mocked.of(ActivityName.COALESCE_UPDATES)
    assert coalesce.arg == HeldUpdates(EVENT_ID, [10, 11, 12])
    # Released when the window that opened with the first update closed, not before, not at the end.
    assert timedelta(seconds=300) <= coalesce.at - started < timedelta(seconds=330)
    assert mocked.planned() == [20]
    assert mocked.calls.index(coalesce) < mocked.calls.index(mocked.of(ActivityName.PLAN_FANOUT)[0])


async def test_a_cancellation_during_the_window_goes_out_at_once_and_releases_the_held_updates_as_none(
        workflow_env, run_workers):
    mocked = MockedEventActivities(coalesced=None)  # what coalescing answers once the event is cancelled
    async with run_workers(mocked.workflow_activities(), [mocked.deliver_batch]) as queues:
        handle = await start_event(workflow_env, queues, mocked, update_coalesce_seconds=300)
        started = (await handle.describe()).start_time
        starts_at = started.replace(microsecond=0) + timedelta(days=1)
        await handle.signal(EventWorkflow.event_updated, EventChange(2, starts_at, None, 10))
        await handle.signal(EventWorkflow.event_updated, EventChange(3, starts_at, None, 11))
        await handle.signal(EventWorkflow.event_cancelled, EventChange(4, starts_at, None, 30))
        assert await handle.result() == "cancelled"

    [coalesce] = mocked.of(ActivityName.COALESCE_UPDATES)
    assert coalesce.arg == HeldUpdates(EVENT_ID, [10, 11])
    assert coalesce.at - started < timedelta(seconds=300)  # the window did not run out first
    assert mocked.planned() == [30]
    assert mocked.of(ActivityName.COMPLETE_EVENT) == []  # a cancelled event is not completed
    assert mocked.calls[-1].name == ActivityName.SYNC_REMINDERS  # its schedules removed last


async def test_a_cancellation_during_a_batch_lets_the_batch_finish_then_sends_the_cancellation(
        workflow_env, run_workers):
    mocked = MockedEventActivities(ranges=[(1, 100)])
    mocked.batches_held = asyncio.Event()
    async with run_workers(mocked.workflow_activities(), [mocked.deliver_batch]) as queues:
        handle = await start_event(workflow_env, queues, mocked, pending_notification_ids=[1])
        await asyncio.wait_for(mocked.batch_running.wait(), 10)
        state = await handle.query(EventWorkflow.current_state)
        starts_at = state.starts_at
        await handle.signal(EventWorkflow.event_cancelled, EventChange(2, starts_at, None, 2))

        async def cancelled() -> bool:
            return (await handle.query(EventWorkflow.current_state)).cancelled

        await eventually(cancelled, "the cancellation taken")
        assert (await handle.describe()).status == WorkflowExecutionStatus.RUNNING  # the batch still runs
        mocked.batches_held.set()
        assert await handle.result() == "cancelled"

    assert mocked.planned() == [1, 2]
    # The batch in flight was not abandoned: it ran to its end, once.
    assert [call.arg.notification_id for call in mocked.of(BATCH_FINISHED)] == [1, 2]
    assert [call.arg.notification_id for call in mocked.of(NOTIFICATION_SETTLED)] == [1, 2]
    assert mocked.of(ActivityName.COMPLETE_EVENT) == []


async def test_the_event_ends_at_its_newest_end_time_weeks_later(workflow_env, run_workers):
    mocked = MockedEventActivities()
    async with run_workers(mocked.workflow_activities(), [mocked.deliver_batch]) as queues:
        handle = await start_event(workflow_env, queues, mocked)
        now = await server_now(workflow_env)
        moved_start, moved_end = now + timedelta(days=40), now + timedelta(days=40, hours=3)
        await handle.signal(EventWorkflow.event_updated, EventChange(2, moved_start, moved_end))
        # A signal of an older version arriving late moves nothing back.
        await handle.signal(EventWorkflow.event_updated, EventChange(1, now + timedelta(days=1), None))
        assert await handle.result() == "completed"
        assert await workflow_env.get_current_time() >= moved_end

    [complete] = mocked.of(ActivityName.COMPLETE_EVENT)
    assert complete.arg == EventRef(EVENT_ID)
    assert moved_end <= complete.at < moved_end + timedelta(minutes=1)
    assert mocked.planned() == []  # an edit without a notification sends nothing


async def test_a_run_continued_as_new_takes_up_the_state_it_was_handed(workflow_env, run_workers):
    """A run handed a state (by the run before it, or by older code: these fields are what it
    carried) takes it up: the queue goes out first, the recent notification is not sent again,
    the held update is released when its carried window closes (not a new window), and the
    reminder sync starts from the schedules the last run made."""
    mocked = MockedEventActivities(coalesced=43, synced=[ReminderSyncResult([3600, 86400], 3)])
    async with run_workers(mocked.workflow_activities(), [mocked.deliver_batch]) as queues:
        now = await server_now(workflow_env)
        window_ends_at = now + timedelta(seconds=120)
        handle = await start_event(
            workflow_env, queues, mocked, version=3, pending_notification_ids=[41], recent_notification_ids=[40],
            scheduled_offsets=[3600, 86400], schedules_version=3, update_coalesce_seconds=300,
            held_update_ids=[42], update_window_ends_at=window_ends_at)
        await handle.signal(EventWorkflow.notify, NotifyRequest(40))
        assert await handle.result() == "completed"

    assert mocked.of(ActivityName.SYNC_REMINDERS)[0].arg == ReminderSync(EVENT_ID, [3600, 86400], 3)
    assert mocked.planned() == [41, 43]
    [coalesce] = mocked.of(ActivityName.COALESCE_UPDATES)
    assert coalesce.arg == HeldUpdates(EVENT_ID, [42])
    assert window_ends_at <= coalesce.at < window_ends_at + timedelta(seconds=30)


async def answer_when_ready(handle):
    """The current run's state, or None while it has not taken its first task yet (a run that
    just continued as new, on a busy box): its query would wait past the RPC's deadline."""
    try:
        return await handle.query(EventWorkflow.current_state, rpc_timeout=timedelta(seconds=2))
    except RPCError:
        return None


async def test_a_run_past_its_history_limit_continues_as_new_with_all_it_knew(workflow_env, run_workers):
    """The handing itself, with the history limit lowered from 4,000 events: the next run knows
    what the last one did (delivered, held, synced, the newest version) and does none of it again."""
    mocked = MockedEventActivities(ranges=[(1, 10)], coalesced=None, synced=[ReminderSyncResult([3600], 2)])
    async with run_workers(mocked.workflow_activities(), [mocked.deliver_batch]) as queues:
        # Delivering notification 1 takes the first run past 20 events; the next run starts below.
        first = await start_event(workflow_env, queues, mocked, pending_notification_ids=[1],
                                  update_coalesce_seconds=300, continue_after_history_events=20)
        # Whichever run is current (the first may be gone already: a query of a closed run waits).
        latest = workflow_env.client.get_workflow_handle(first.id)
        answers = []

        async def answered() -> bool:
            answers.append(await answer_when_ready(latest))
            return answers[-1] is not None

        await eventually(answered, "the current run's answer", timeout=30)
        starts_at = answers[-1].starts_at
        await latest.signal(EventWorkflow.event_updated, EventChange(2, starts_at, None, 10))

        async def handed_on() -> bool:
            if (await latest.describe()).run_id == first.run_id:
                return False
            state = await answer_when_ready(latest)
            return state is not None and state.reminders_in_sync and state.held_update_ids == [10]

        await eventually(handed_on, "the next run, its reminders synced, holding the update", timeout=30)
        state = await latest.query(EventWorkflow.current_state)
        assert (state.version, state.starts_at, state.cancelled) == (2, starts_at, False)
        assert state.pending_notification_ids == [] and state.recent_notification_ids == [1]
        assert (state.scheduled_offsets, state.schedules_version) == ([3600], 2)
        assert state.update_coalesce_seconds == 300 and state.update_window_ends_at is not None
        assert state.continue_after_history_events == 20
        await latest.signal(EventWorkflow.event_cancelled, EventChange(3, starts_at, None))
        assert await latest.result() == "cancelled"

    assert mocked.planned() == [1]  # not delivered again by the next run
    # The next run's first sync starts from the schedules the last run made.
    assert ReminderSync(EVENT_ID, [3600], 2) in [call.arg for call in mocked.of(ActivityName.SYNC_REMINDERS)[1:]]
    assert [call.arg for call in mocked.of(ActivityName.COALESCE_UPDATES)] == [HeldUpdates(EVENT_ID, [10])]


async def test_reminders_changed_brings_the_schedules_in_line_from_what_the_last_sync_made(
        workflow_env, run_workers):
    mocked = MockedEventActivities(synced=[
        ReminderSyncResult([3600], 1), ReminderSyncResult([3600, 86400], 1), ReminderSyncResult([], 1)])
    async with run_workers(mocked.workflow_activities(), [mocked.deliver_batch]) as queues:
        handle = await start_event(workflow_env, queues, mocked)

        def offsets_become(offsets: list[int]):
            async def check() -> bool:
                state = await handle.query(EventWorkflow.current_state)
                return state.reminders_in_sync and state.scheduled_offsets == offsets
            return check

        await eventually(offsets_become([3600]), "the first sync")
        await handle.signal(EventWorkflow.reminders_changed)
        await eventually(offsets_become([3600, 86400]), "the sync the signal asked for")
        starts_at = (await handle.query(EventWorkflow.current_state)).starts_at
        await handle.signal(EventWorkflow.event_cancelled, EventChange(2, starts_at, None))
        assert await handle.result() == "cancelled"

    assert [call.arg for call in mocked.of(ActivityName.SYNC_REMINDERS)][:3] == [
        ReminderSync(EVENT_ID, [], 0),  # at start
        ReminderSync(EVENT_ID, [3600], 1),  # reminders_changed
        ReminderSync(EVENT_ID, [3600, 86400], 1),  # the cancellation: every schedule goes
    ]
