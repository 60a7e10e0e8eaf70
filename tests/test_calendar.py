"""Calendar files, parsed back with icalendar: times, zones, alarms, and the feed's secret."""
import re
from datetime import datetime, timedelta, timezone

import pytest
from icalendar import Calendar
from sqlalchemy import select

from soonish.models import Event, Subscription, SubscriptionStatus, User, Visibility, db
from soonish.domain.ics import event_uid

from .conftest import csrf_token, stored

UTC = timezone.utc


@pytest.fixture
def add_event(app, make_user):
    """Events straight in the database: calendars read rows, no workflow is involved."""
    organizer = make_user("organizer@example.com")

    def add(title: str, starts_at: datetime, **fields) -> Event:
        slug = f"{title.lower().replace(' ', '-')}-a1b2c3"
        return stored(app, Event(organizer_id=organizer.id, slug=slug, title=title, starts_at=starts_at, **fields))

    return add


def subscribe(app, user: User, event: Event, offsets: list[int], status=SubscriptionStatus.ACTIVE) -> None:
    with app.app_context():
        db.session.add(Subscription(event_id=event.id, user_id=user.id, status=status, reminder_offsets=offsets))
        db.session.commit()


def parse(response) -> Calendar:
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.mimetype == "text/calendar"
    return Calendar.from_ical(response.data)


def vevents(calendar: Calendar) -> dict[str, object]:
    return {str(entry["summary"]): entry for entry in calendar.walk("VEVENT")}


def test_event_ics_carries_zone_times_version_and_url(app, client, add_event):
    event = add_event(
        "Book club", datetime(2031, 3, 10, 23, 30, tzinfo=UTC), ends_at=datetime(2031, 3, 11, 1, 0, tzinfo=UTC),
        timezone="America/New_York", location="Library, room 2", description="Chapter 3 to 5.", version=3,
    )
    calendar = parse(client.get(f"/events/{event.slug}.ics"))
    entry = vevents(calendar)["Book club"]
    # 23:30 UTC in March 2031 is 19:30 EDT, written with the event's TZID.
    assert entry["dtstart"].params["TZID"] == "America/New_York"
    assert entry.decoded("dtstart") == datetime(2031, 3, 10, 23, 30, tzinfo=UTC)
    assert entry.decoded("dtstart").strftime("%H:%M") == "19:30"
    assert entry.decoded("dtend") == datetime(2031, 3, 11, 1, 0, tzinfo=UTC)
    assert str(entry["uid"]) == event_uid(event)
    assert entry.decoded("sequence") == 3
    assert str(entry["status"]) == "CONFIRMED"
    assert str(entry["url"]) == f"http://localhost/e/{event.slug}"
    assert str(entry["location"]) == "Library, room 2"
    # The zone's rules travel with the file, so apps without the IANA database agree.
    assert [str(tz["tzid"]) for tz in calendar.walk("VTIMEZONE")] == ["America/New_York"]


def test_cancelled_event_keeps_its_uid_and_says_cancelled(app, client, add_event):
    event = add_event("Picnic", datetime(2031, 6, 1, 10, 0, tzinfo=UTC), status="cancelled", version=2)
    entry = vevents(parse(client.get(f"/events/{event.slug}.ics")))["Picnic"]
    assert str(entry["status"]) == "CANCELLED"
    assert entry.decoded("sequence") == 2
    assert str(entry["uid"]) == event_uid(event)
    # A UTC event needs no TZID: its times are written in UTC.
    assert "TZID" not in entry["dtstart"].params
    assert entry.decoded("dtstart") == datetime(2031, 6, 1, 10, 0, tzinfo=UTC)


def test_an_entry_says_when_and_whether_cancelled_in_the_readers_language(client, add_event):
    event = add_event("Book club", datetime(2031, 3, 10, 23, 30, tzinfo=UTC), timezone="America/New_York",
                      description="Chapter 3 to 5.", status="cancelled")
    german = vevents(parse(client.get(f"/events/{event.slug}.ics", headers={"Accept-Language": "de"})))["Book club"]
    assert str(german["description"]) == (
        "Diese Veranstaltung ist abgesagt.\nWann: Mo., 10. März 2031, 19:30 EDT (America/New_York)\n\n"
        f"Chapter 3 to 5.\n\nhttp://localhost/e/{event.slug}")
    english = vevents(parse(client.get(f"/events/{event.slug}.ics")))["Book club"]
    assert str(english["description"]).startswith("This event is cancelled.\nWhen: Mon, Mar 10, 2031, 7:30")


def test_a_feed_is_in_its_owners_language_whatever_the_calendar_app_asks(app, client, make_user, add_event):
    follower = make_user("sigo@example.com")
    launch = add_event("Launch", datetime(2031, 5, 1, 16, 0, tzinfo=UTC), timezone="Europe/Paris")
    subscribe(app, follower, launch, [3600])
    with app.app_context():
        owner = db.session.get(User, follower.id)
        owner.locale, owner.calendar_token = "es", "feed-token-es"
        db.session.commit()
    calendar = parse(client.get("/calendar/feed-token-es.ics", headers={"Accept-Language": "de"}))
    assert str(calendar["x-wr-calname"]) == "Soonish: eventos que sigo"
    entry = vevents(calendar)["Launch"]
    assert str(entry["description"]).startswith("Cuándo: jue, 1 may 2031, 18:00 CEST (Europe/Paris)")


def test_private_event_ics_is_hidden_from_others(client, add_event):
    event = add_event("Secret", datetime(2031, 6, 1, 10, 0, tzinfo=UTC), visibility=Visibility.PRIVATE)
    assert client.get(f"/events/{event.slug}.ics").status_code == 404
    assert client.get("/events/no-such-event.ics").status_code == 404


def test_feed_lists_active_subscriptions_with_one_alarm_per_offset(app, client, make_user, login, add_event):
    follower = make_user("follower@example.com")
    launch = add_event("Launch", datetime(2031, 5, 1, 16, 0, tzinfo=UTC), timezone="Europe/Paris")
    meetup = add_event("Meetup", datetime(2031, 7, 4, 1, 0, tzinfo=UTC), timezone="Asia/Tokyo")
    dropped = add_event("Dropped", datetime(2031, 8, 1, 9, 0, tzinfo=UTC))
    subscribe(app, follower, launch, [86400, 3600])
    subscribe(app, follower, meetup, [900])
    subscribe(app, follower, dropped, [3600], status=SubscriptionStatus.UNSUBSCRIBED)

    login(follower)
    client.post("/calendar/feed", data={"csrf_token": csrf_token(client, "/account")})
    feed_url = re.search(r'id="feed-url"[^>]*value="([^"]+)"', client.get("/account").get_data(as_text=True)).group(1)
    assert feed_url.startswith("http://localhost/calendar/") and feed_url.endswith(".ics")

    client.post("/logout", data={"csrf_token": csrf_token(client, "/account")})
    calendar = parse(client.get(feed_url))  # no session needed: the URL is the secret
    entries = vevents(calendar)
    assert sorted(entries) == ["Launch", "Meetup"]
    launch_alarms = [alarm.decoded("trigger") for alarm in entries["Launch"].walk("VALARM")]
    assert launch_alarms == [timedelta(days=-1), timedelta(hours=-1)]
    assert [alarm.decoded("trigger") for alarm in entries["Meetup"].walk("VALARM")] == [timedelta(minutes=-15)]
    # 01:00 UTC is 10:00 in Tokyo; 16:00 UTC is 18:00 in Paris (summer time).
    assert entries["Meetup"]["dtstart"].params["TZID"] == "Asia/Tokyo"
    assert entries["Meetup"].decoded("dtstart").strftime("%H:%M") == "10:00"
    assert entries["Launch"].decoded("dtstart").strftime("%H:%M") == "18:00"
    assert sorted(str(tz["tzid"]) for tz in calendar.walk("VTIMEZONE")) == ["Asia/Tokyo", "Europe/Paris"]


def test_rotated_and_revoked_tokens_give_404(app, client, make_user, login):
    user = make_user("rotator@example.com")
    login(user)

    def token() -> str | None:
        with app.app_context():
            return db.session.scalar(select(User.calendar_token).where(User.id == user.id))

    client.post("/calendar/feed", data={"csrf_token": csrf_token(client, "/account")})
    first = token()
    assert client.get(f"/calendar/{first}.ics").status_code == 200

    client.post("/calendar/feed", data={"csrf_token": csrf_token(client, "/account")})
    second = token()
    assert second != first
    assert client.get(f"/calendar/{first}.ics").status_code == 404
    assert client.get(f"/calendar/{second}.ics").status_code == 200

    response = client.post("/calendar/feed/revoke", data={"csrf_token": csrf_token(client, "/account")})
    assert response.status_code == 302
    assert token() is None
    assert client.get(f"/calendar/{second}.ics").status_code == 404
    assert client.get("/calendar/not-a-token.ics").status_code == 404
    assert "Create my calendar feed" in client.get("/account").get_data(as_text=True)


def test_feed_management_needs_sign_in(client):
    assert client.get("/account").headers["Location"].startswith("/login")
    assert client.post("/calendar/feed", data={"csrf_token": csrf_token(client, "/login")}).headers["Location"].startswith("/login")
