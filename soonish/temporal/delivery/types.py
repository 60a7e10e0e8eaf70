"""What delivery workflows and activities share: activity names, timeouts and retry policies, and
the batches a notification is delivered in. Plain data: workflows import it through
``imports_passed_through``.

Workflows call activities by these names, so the workflow module never imports activity code.
"""
from dataclasses import dataclass, replace
from datetime import timedelta

from temporalio.common import RetryPolicy


def delivery_task_queue(config) -> str:
    """The task queue of delivery batches: TEMPORAL_DELIVERY_TASK_QUEUE, by default the
    workflows' queue name + "-delivery" (so deployments and test runs sharing a Temporal
    namespace under different queue names keep their deliveries apart too)."""
    return config["TEMPORAL_DELIVERY_TASK_QUEUE"] or f"{config['TEMPORAL_TASK_QUEUE']}-delivery"


@dataclass
class NotificationRef:
    notification_id: int


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


# After a notification's batches: tells organizers' endpoints how it went (notification.sent,
# delivery.failed). Called by the EventWorkflow.
NOTIFICATION_SETTLED = "notification_settled"


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
# while it still runs. Nothing is lost, the ledger skips recorded sends, and the group in flight
# is held for its attempt (ledger.SEND_HOLD) so it does not go out twice; before the hold, 2
# cores at load average ~15 gave 50 such repeats in a run with no fault. The start-up objects no
# longer stall the loop in full collections (cli.freeze_loaded_objects). Four heartbeats fit in
# the timeout.
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
