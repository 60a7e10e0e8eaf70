"""What the reminder workflows, their activities and the schedules pass around. Plain data:
workflows import it through ``imports_passed_through``."""
from dataclasses import dataclass
from datetime import datetime, timedelta


def reminder_schedule_id(prefix: str, event_id: int, offset_seconds: int) -> str:
    return f"{prefix}event-{event_id}-reminder-{offset_seconds}s"


def reminder_slot_id(prefix: str, due: datetime) -> str:
    """The one workflow that delivers every reminder due in this second."""
    return f"{prefix}reminders-due-{int(due.timestamp())}"


@dataclass
class ReminderInput:
    """What a reminder schedule starts: remind holders of ``offset`` before ``starts_at``."""

    event_id: int
    offset_seconds: int
    starts_at: datetime
    event_workflow_id: str

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
# A reminder slot plans its deliveries this long before they are due, so that at the due
# second only the sends remain (each batch checks again that its reminder still stands).
REMINDER_PLAN_AHEAD = timedelta(seconds=15)
# Until then, a slot counts its reminders' sends again (to know how early they start) at most
# this often as more enroll: schedules firing over the whole lead cost about twenty counts.
REMINDER_RECOUNT_EVERY = timedelta(seconds=5)
