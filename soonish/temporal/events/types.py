"""What the event workflow, its activities and its starters pass around. Plain data: workflows
import it through ``imports_passed_through``."""
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum


def event_workflow_id(prefix: str, event_id: int) -> str:
    return f"{prefix}event-{event_id}"


# Continue-as-new well before Temporal's 10,240-event warning.
HISTORY_EVENTS_BEFORE_CONTINUE = 4000
RECENT_NOTIFICATIONS_KEPT = 100


class ReminderSyncStatus(StrEnum):
    """Where the event's reminder schedules stand against its subscriptions."""

    WANTED = "wanted"  # they may not match: a sync is due
    SYNCING = "syncing"  # a sync is under way, and nothing changed since it began
    IN_SYNC = "in_sync"


@dataclass
class EventWorkflowState:
    """Everything the event's workflow knows: what it is started with (from the event's row),
    carried whole across continue-as-new, and what its query answers. The fields carried before
    this was one dataclass keep their names: runs handed on by older code start from them."""

    event_id: int
    version: int
    starts_at: datetime
    ends_at: datetime | None
    cancelled: bool = False
    # Notifications to deliver, in order; the head is the one going out.
    pending_notification_ids: list[int] = field(default_factory=list)
    # Notifications already taken from the queue, so a repeated signal is not sent twice.
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
    reminder_sync: ReminderSyncStatus = ReminderSyncStatus.WANTED
    # A run continues as new past this many history events (None: HISTORY_EVENTS_BEFORE_CONTINUE,
    # as it stands in the code that runs; tests lower it to see a run handed on).
    continue_after_history_events: int | None = None

    @property
    def reminders_in_sync(self) -> bool:
        return self.reminder_sync == ReminderSyncStatus.IN_SYNC


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
