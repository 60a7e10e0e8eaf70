"""Types shared by workflows, activities and the client. Pure data: no I/O imports.

Workflows call activities by these names, so the workflow module never imports activity code.
"""
from dataclasses import dataclass, field
from datetime import datetime, timedelta


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


@dataclass
class EventChange:
    """Signal payload: the event's newest version and times."""

    version: int
    starts_at: datetime
    ends_at: datetime | None


@dataclass
class EventState:
    """Query result: what the workflow currently believes about its event."""

    event_id: int
    version: int
    starts_at: datetime
    ends_at: datetime | None
    cancelled: bool
    pending_notifications: int


@dataclass
class EventRef:
    event_id: int


class ActivityName:
    COMPLETE_EVENT = "complete_event"


ACTIVITY_TIMEOUT = timedelta(seconds=60)
