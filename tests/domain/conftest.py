"""The delivery domain's tests: a database, loopback receivers, and no Temporal server.

``domain_app`` is the suite's app without a Temporal address: nothing here may need one.
"""
from datetime import timedelta

import pytest

from soonish.crypto import FieldCipher
from soonish.models import Event, Notification, NotificationKind, Subscription, User, db, utcnow

from ..conftest import fresh_tables


@pytest.fixture
def domain_app(database_url, smtp_sink, reused_apps):
    smtp_sink.clear()
    app = reused_apps.app_for({
        "TESTING": True,
        "SECRET_KEY": "test-secret-" + "x" * 32,
        "DATABASE_URL": database_url,
        "TEMPORAL_ADDRESS": "127.0.0.1:1",  # nothing listens: a domain test never reaches Temporal
        "SMTP_HOST": "127.0.0.1",
        "SMTP_PORT": smtp_sink.port,
        "SMTP_STARTTLS": False,
        "ALLOW_PRIVATE_TARGETS": True,
        "PUBLIC_URL": "http://soonish.test",
    })
    with app.app_context():
        fresh_tables()
    with app.test_request_context():
        yield app
        db.session.remove()
    with app.app_context():
        db.engine.dispose()


@pytest.fixture
def event(domain_app) -> Event:
    organizer = User(email="organizer@example.com")
    event = Event(slug="launch", organizer=organizer, title="Launch", starts_at=utcnow() + timedelta(days=2),
                  timezone="Europe/Paris")
    db.session.add(event)
    db.session.commit()
    return event


@pytest.fixture
def follow(event):
    """``follow(email, offsets=None)``: an active subscription of ``event`` reached by email."""
    def make(email: str, offsets: list[int] | None = None) -> Subscription:
        subscription = Subscription(event=event, user=User(email=email))
        if offsets is not None:
            subscription.reminder_offsets = offsets
        db.session.add(subscription)
        db.session.commit()
        return subscription

    return make


@pytest.fixture
def cipher(domain_app) -> FieldCipher:
    config = domain_app.config
    return FieldCipher.from_setting(config["ENCRYPTION_KEYS"], config["SECRET_KEY"])


@pytest.fixture
def announcement(event) -> Notification:
    notification = Notification(event=event, kind=NotificationKind.ANNOUNCEMENT, title="Doors open", body="At 7")
    db.session.add(notification)
    db.session.commit()
    return notification
