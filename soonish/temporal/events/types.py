"""What the event workflow, its activities and its starters pass around. Plain data: workflows
import it through ``imports_passed_through``."""
from dataclasses import dataclass, field
from datetime import datetime


def event_workflow_id(prefix: str, event_id: int) -> str:
    return f"{prefix}event-{event_id}"


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
class HeldUpdates:
    """Updates of one event held through a coalescing window, to become one notification."""

    event_id: int
    notification_ids: list[int]


@dataclass
class CoalescedUpdate:
    """The one update to send, or None when there is nothing left to tell (the event was
    cancelled, or the edits undid each other)."""

    notification_id: int | None
# Continue-as-new well before Temporal's 10,240-event warning.
HISTORY_EVENTS_BEFORE_CONTINUE = 4000
RECENT_NOTIFICATIONS_KEPT = 100


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
