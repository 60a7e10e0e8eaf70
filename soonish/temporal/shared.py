"""Types shared by workflows, activities and the client: pure data, and the reminder rule's
due time (``delivery.reminders.due_at``, so there is one formula). Workflows import this module
through ``imports_passed_through``.

Workflows call activities by these names, so the workflow module never imports activity code.
"""
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from temporalio.common import RetryPolicy

from soonish.delivery.reminders import due_at
from soonish.models import Event, EventStatus


def event_workflow_id(prefix: str, event_id: int) -> str:
    return f"{prefix}event-{event_id}"


def reminder_schedule_id(prefix: str, event_id: int, offset_seconds: int) -> str:
    return f"{prefix}event-{event_id}-reminder-{offset_seconds}s"


def delivery_task_queue(config) -> str:
    """The task queue of delivery batches: TEMPORAL_DELIVERY_TASK_QUEUE, by default the
    workflows' queue name + "-delivery" (so deployments and test runs sharing a Temporal
    namespace under different queue names keep their deliveries apart too)."""
    return config["TEMPORAL_DELIVERY_TASK_QUEUE"] or f"{config['TEMPORAL_TASK_QUEUE']}-delivery"


def reminder_slot_id(prefix: str, due: datetime) -> str:
    """The one workflow that delivers every reminder due in this second."""
    return f"{prefix}reminders-due-{int(due.timestamp())}"


@dataclass
class EventWorkflowInput:
    event_id: int
    version: int
    starts_at: datetime
    ends_at: datetime | None
    # State carried across continue-as-new.
    cancelled: bool = False
    pending_notification_ids: list[int] = field(default_factory=list)
    recent_notification_ids: list[int] = field(default_factory=list)
    # Reminder schedules this workflow has made, and the event version they were made for.
    scheduled_offsets: list[int] = field(default_factory=list)
    schedules_version: int = 0
    # Updates within this many seconds of the first held one go out as one (0: each at once;
    # workflows cannot read settings, so it travels here, carried across continue-as-new).
    update_coalesce_seconds: float = 0
    # Updates held for coalescing, and when their window closes.
    held_update_ids: list[int] = field(default_factory=list)
    update_window_ends_at: datetime | None = None

    @classmethod
    def for_event(cls, event: Event, config) -> "EventWorkflowInput":
        """What the event's workflow is started with (or told) about its event, under the
        app's ``config``."""
        return cls(
            event_id=event.id,
            version=event.version,
            starts_at=event.starts_at,
            ends_at=event.ends_at,
            cancelled=event.status == EventStatus.CANCELLED,
            update_coalesce_seconds=max(0.0, float(config["UPDATE_COALESCE_SECONDS"])),
        )


@dataclass
class EventChange:
    """Signal payload: the event's newest version and times, and the notification telling
    subscribers about it (None when the change is not worth a message)."""

    version: int
    starts_at: datetime
    ends_at: datetime | None
    notification_id: int | None = None


@dataclass
class NotifyRequest:
    """Signal payload: deliver this notification to its recipients."""

    notification_id: int


@dataclass
class EventState:
    """Query result: what the workflow currently believes about its event."""

    event_id: int
    version: int
    starts_at: datetime
    ends_at: datetime | None
    cancelled: bool
    pending_notifications: int
    delivered_notifications: list[int]
    scheduled_offsets: list[int]
    reminders_in_sync: bool


@dataclass
class EventRef:
    event_id: int


@dataclass
class ReminderSync:
    """Make the event's reminder schedules match its subscriptions' offsets."""

    event_id: int
    known_offsets: list[int]  # the schedules that exist now (as far as the workflow knows)
    known_version: int  # the event version they were made for


@dataclass
class ReminderSyncResult:
    offsets: list[int]
    version: int


@dataclass
class ReminderInput:
    """What a reminder schedule starts: remind holders of ``offset`` before ``starts_at``."""

    event_id: int
    offset_seconds: int
    starts_at: datetime
    event_workflow_id: str

    @property
    def due(self) -> datetime:
        return due_at(self.starts_at, self.offset_seconds)

    @property
    def key(self) -> str:
        return f"{self.event_id}:{self.offset_seconds}:{self.starts_at.isoformat()}"


@dataclass
class ReminderSlot:
    """Every reminder due in one second, delivered together (events cluster on the hour)."""

    due: datetime
    # Where its delivery batches run; "" for slots started before the task queues were split.
    delivery_task_queue: str = ""


@dataclass
class SlotStart:
    """When a slot's sends start: its due time, or a little earlier when the budgets need it
    (delivery.reminders.sends_from)."""

    sends_from: datetime


@dataclass
class NotificationRef:
    notification_id: int


@dataclass
class HeldUpdates:
    """Updates of one event held through a coalescing window, to become one notification."""

    event_id: int
    notification_ids: list[int]


@dataclass
class CoalescedUpdate:
    """The one update to send, or None when there is nothing left to tell (the event was
    cancelled, or the edits undid each other)."""

    notification_id: int | None


@dataclass
class SubscriptionRange:
    first_id: int
    last_id: int


@dataclass
class FanoutPlan:
    """A notification's recipients split into batches of subscription-id ranges."""

    notification_id: int
    batches: list[SubscriptionRange]
    # Where the batches run, said by the worker that planned them (workflows cannot read
    # settings); "" in plans made before the task queues were split.
    delivery_task_queue: str = ""


@dataclass
class DeliveryBatch:
    notification_id: int
    subscriptions: SubscriptionRange
    # Attempts made before this activity's own (the event's first attempt, for its retries
    # workflow): each attempt's backoff and the last attempt count from them.
    earlier_attempts: int = 0


@dataclass
class NotificationRetries:
    """A notification's batches that have sends to retry after its first attempt, retried by a
    DeliveryRetriesWorkflow of their own while the event's next messages go out."""

    notification_id: int
    batches: list[DeliveryBatch]
    delivery_task_queue: str


@dataclass
class BatchResult:
    sent: int = 0
    failed: int = 0
    retrying: int = 0
    already_sent: int = 0


@dataclass
class TransactionalMail:
    """A one-off mail to one person: "confirm" (subscription id), "verify" (user id) or "link"
    (chat identity id, to ``address``: the email its owner wants to join), "verify_channel" (an
    email channel's integration id), or an account mail ("reset", "email_change",
    "email_changed", "delete_account"; see delivery.mail.OneOffKind).

    ``address`` only for an address no table holds (a chat link's, an email change's new and old
    ones): the activity reads every other from the database, because Temporal keeps a history
    for its retention period and an erased person's address must not stay in it. Mails started
    before that carry the address of "verify_channel" and "reset" too; the activity honours it."""

    kind: str
    subject_id: int
    address: str | None = None


class ActivityName:
    COMPLETE_EVENT = "complete_event"
    COALESCE_UPDATES = "coalesce_updates"
    PLAN_FANOUT = "plan_fanout"
    DELIVER_BATCH = "deliver_batch"
    SEND_TRANSACTIONAL_MAIL = "send_transactional_mail"
    SYNC_REMINDERS = "sync_reminders"
    ENROLL_REMINDER = "enroll_reminder"
    PLAN_REMINDERS = "plan_reminders"
    REMINDER_SENDS_FROM = "reminder_sends_from"
    DELIVER_BATCHES = "deliver_batches"


ACTIVITY_TIMEOUT = timedelta(seconds=60)
# Failover. A running batch heartbeats every BATCH_HEARTBEAT_EVERY from a task of its own
# (liveness: the worker process and its event loop are alive; progress is in the ledger), and
# the worker passes heartbeats on at least every 0.5 s (worker.HEARTBEAT_THROTTLE). A killed
# worker's batch times out at most BATCH_HEARTBEAT_TIMEOUT after its last heartbeat and is
# retried elsewhere at once (BATCH_RETRY). Measured with bench/chaos.py (reminders, kill -9):
# the server noticed 0.3-1 s after the timeout and the retry started ~0.8-1 s after that, so a
# 3 s timeout resumed the work 4.3 s after the kill and the last reminder came 5.7 s after its
# due time; 2 s brings both about a second earlier.
# The trade-off: a worker whose heartbeats do not reach the server for longer than ~1.5 s (a
# box so busy the heartbeat task or the server lags, a long GC pause) has its batch taken over
# while it still runs. Nothing is lost and the ledger still skips recorded sends, but the group
# in flight can go out twice (with the same delivery key, which receivers can drop). On 2 cores
# at load average ~15, 2 s gave 50 such repeats in a run with no fault; a box that busy is
# past its capacity anyway, and the start-up objects no longer stall the loop in full
# collections (cli.freeze_loaded_objects). Four heartbeats fit in the timeout.
BATCH_HEARTBEAT_TIMEOUT = timedelta(seconds=2)
BATCH_HEARTBEAT_EVERY = timedelta(seconds=0.5)
# Both lags after the timeout came from the server, not from us: its history service fires no
# timer sooner than timerProcessorMaxTimeShift (1 s by default) after setting it, and the
# timeout check that finds the last heartbeat stale and the retry's 0.1 s backoff are timers.
# At 100 ms the dead worker's batch timed out 1.8 s after the kill and resumed ~0.3 s later
# (2.3 s and ~1 s before). The cost is a timer queue that reads ahead 100 ms instead of a
# second: more, smaller reads of its store when timers are dense. The servers we start take
# this setting; a production server takes it in its dynamic config (README, "Failover").
TEMPORAL_TIMER_SHIFT = "100ms"


def temporal_dev_server_args() -> list[str]:
    """What `temporal server start-dev` is given besides its address and storage."""
    return ["--dynamic-config-value", f'history.timerProcessorMaxTimeShift="{TEMPORAL_TIMER_SHIFT}"']


# Workflows that scheduled batches before the failover tuning keep their timeout on replay.
LEGACY_BATCH_HEARTBEAT_TIMEOUT = timedelta(seconds=10)
# The backstop for a batch that heartbeats but never finishes (a send hanging past every
# timeout): a batch of 500 in groups of 50 is 10 groups, each bounded by the 15 s HTTP
# timeout (SMTP's 20 s) plus its record, so under 4 minutes at worst; 10 leaves room for a slow database.
BATCH_TIMEOUT = timedelta(minutes=10)
# Sends paced by their destinations' budgets can take longer than that (500 Slack DMs at 5 a
# second, shared by every batch): a batch starts no new group after this long, and hands the
# rest back to Temporal's retry (the ledger skips what was sent).
BATCH_SENDING_WINDOW = timedelta(minutes=5)
MAX_DELIVERY_ATTEMPTS = 8
DELIVERY_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(minutes=2),
    maximum_attempts=MAX_DELIVERY_ATTEMPTS,
)
# A delivery batch's retry policy. A timeout (its worker died, or stopped heartbeating) is
# retried at once: DELIVERY_RETRY's first second was a quarter of a dead worker's failover.
# Every failure the batch reports itself (sends to retry, the database down) names
# DELIVERY_RETRY's delay for its attempt (batch_retry_delay), so those back off as before.
BATCH_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=0.1),
    backoff_coefficient=DELIVERY_RETRY.backoff_coefficient,
    maximum_interval=DELIVERY_RETRY.maximum_interval,
    maximum_attempts=MAX_DELIVERY_ATTEMPTS,
)


# The error type of a batch that made its attempt and has sends to retry (the details carry the
# attempts made). An event's first attempt does not retry it itself (FIRST_ATTEMPT_RETRY): its
# retries run beside the event's next notifications, so a dead destination holds back no one.
SENDS_TO_RETRY = "SendsToRetry"
FIRST_ATTEMPT_RETRY = replace(BATCH_RETRY, non_retryable_error_types=[SENDS_TO_RETRY])


def batch_retry_delay(attempt: int) -> timedelta:
    """DELIVERY_RETRY's wait after failed attempt ``attempt`` (1, 2, 4, … s, at most 2 minutes)."""
    seconds = DELIVERY_RETRY.initial_interval.total_seconds() * DELIVERY_RETRY.backoff_coefficient ** (attempt - 1)
    return min(timedelta(seconds=seconds), DELIVERY_RETRY.maximum_interval)


# Batches of one notification run this many at a time.
PARALLEL_BATCHES = 8
# A reminder slot plans its deliveries this long before they are due, so that at the due
# second only the sends remain (each batch checks again that its reminder still stands).
REMINDER_PLAN_AHEAD = timedelta(seconds=15)
# Until then, a slot counts its reminders' sends again (to know how early they start) at most
# this often as more enroll: schedules firing over the whole lead cost about twenty counts.
REMINDER_RECOUNT_EVERY = timedelta(seconds=5)
# Continue-as-new well before Temporal's 10,240-event warning.
HISTORY_EVENTS_BEFORE_CONTINUE = 4000
RECENT_NOTIFICATIONS_KEPT = 100
