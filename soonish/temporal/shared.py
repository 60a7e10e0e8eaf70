"""Types shared by workflows, activities and the client. Pure data: no I/O imports.

Workflows call activities by these names, so the workflow module never imports activity code.
"""
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from temporalio.common import RetryPolicy


def event_workflow_id(prefix: str, event_id: int) -> str:
    return f"{prefix}event-{event_id}"


def reminder_schedule_id(prefix: str, event_id: int, offset_seconds: int) -> str:
    return f"{prefix}event-{event_id}-reminder-{offset_seconds}s"


def reminder_dedupe_key(event_id: int, offset_seconds: int, starts_at: datetime) -> str:
    """A reminder's notification key. The start time is in it: a reminder made for an old
    time never stands in for the new one."""
    return f"reminder:{event_id}:{offset_seconds}:{starts_at.isoformat()}"


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
        return self.starts_at - timedelta(seconds=self.offset_seconds)

    @property
    def key(self) -> str:
        return f"{self.event_id}:{self.offset_seconds}:{self.starts_at.isoformat()}"


@dataclass
class ReminderSlot:
    """Every reminder due in one second, delivered together (events cluster on the hour)."""

    due: datetime


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


@dataclass
class DeliveryBatch:
    notification_id: int
    subscriptions: SubscriptionRange


@dataclass
class BatchResult:
    sent: int = 0
    failed: int = 0
    retrying: int = 0
    already_sent: int = 0


@dataclass
class TransactionalMail:
    """A one-off mail to one person: "confirm" (subscription id), "verify" (user id) or "link"
    (chat identity id, to ``address``: the email its owner wants to join)."""

    kind: str
    subject_id: int
    address: str | None = None


class ActivityName:
    COMPLETE_EVENT = "complete_event"
    PLAN_FANOUT = "plan_fanout"
    DELIVER_BATCH = "deliver_batch"
    SEND_TRANSACTIONAL_MAIL = "send_transactional_mail"
    SYNC_REMINDERS = "sync_reminders"
    ENROLL_REMINDER = "enroll_reminder"
    PLAN_REMINDERS = "plan_reminders"
    DELIVER_BATCHES = "deliver_batches"


ACTIVITY_TIMEOUT = timedelta(seconds=60)
# A batch heartbeats after every group of sends; a dead worker's batch moves on this soon.
BATCH_HEARTBEAT_TIMEOUT = timedelta(seconds=10)
BATCH_TIMEOUT = timedelta(minutes=10)
MAX_DELIVERY_ATTEMPTS = 8
DELIVERY_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(minutes=2),
    maximum_attempts=MAX_DELIVERY_ATTEMPTS,
)
# Batches of one notification run this many at a time.
PARALLEL_BATCHES = 8
# A reminder slot plans its deliveries this long before they are due, so that at the due
# second only the sends remain (each batch checks again that its reminder still stands).
REMINDER_PLAN_AHEAD = timedelta(seconds=15)
# The "starting now" message is a reminder with offset 0 (channels that follow an event hold it);
# it may still go out this long after the start (a busy worker), never later.
START_OFFSET = 0
START_MESSAGE_GRACE = timedelta(minutes=5)
# Continue-as-new well before Temporal's 10,240-event warning.
HISTORY_EVENTS_BEFORE_CONTINUE = 4000
RECENT_NOTIFICATIONS_KEPT = 100
