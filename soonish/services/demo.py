"""First run: a demo organizer with an upcoming event, so a new install shows the product working."""
import secrets
from dataclasses import dataclass
from datetime import datetime, time, timedelta

from sqlalchemy import select

from soonish.models import Event, EventStatus, User, db, utcnow
from soonish.services.accounts import find_user_by_email
from soonish.services.events import EventFields, create_event

DEMO_EMAIL = "demo@example.com"
DEMO_NAME = "Demo organizer"
DEMO_TIMEZONE = "Europe/Paris"
DEMO_DAYS_AHEAD = 7


@dataclass
class DemoSignIn:
    email: str
    password: str
    event: Event
    event_created: bool


def _upcoming_event(organizer: User) -> Event | None:
    return db.session.scalar(
        select(Event)
        .where(
            Event.organizer_id == organizer.id,
            Event.status == EventStatus.SCHEDULED,
            Event.starts_at > utcnow(),
        )
        .order_by(Event.starts_at)
        .limit(1)
    )


def _demo_event_fields() -> EventFields:
    day = (utcnow() + timedelta(days=DEMO_DAYS_AHEAD)).date()
    return EventFields(
        title="Soonish launch evening",
        starts_at=datetime.combine(day, time(18, 30)),
        ends_at=datetime.combine(day, time(21, 0)),
        timezone=DEMO_TIMEZONE,
        location="Le Petit Atelier, 12 rue des Lilas, Paris",
        description=(
            "Drinks, short demos and a look at what's next.\n"
            "Follow this event to get a reminder the day before and an hour before."
        ),
    )


def ensure_demo() -> DemoSignIn:
    """Make sure the demo organizer exists and has an upcoming public event; safe to run again.

    The password is new on every run: it is stored only as a hash, so it can't be shown twice.
    """
    organizer = find_user_by_email(DEMO_EMAIL)
    if organizer is None:
        organizer = User(email=DEMO_EMAIL, display_name=DEMO_NAME, is_verified=True)
        db.session.add(organizer)
    password = secrets.token_urlsafe(9)
    organizer.set_password(password)
    db.session.commit()
    event = _upcoming_event(organizer)
    created = event is None
    if created:
        event = create_event(organizer, _demo_event_fields())
    return DemoSignIn(email=DEMO_EMAIL, password=password, event=event, event_created=created)
