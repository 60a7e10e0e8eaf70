"""Recurring series: rules, occurrences made as real events on a rolling horizon (by the
`soonish-series` schedule on the Temporal dev server), following a series, edits of one
occurrence or of it and the following ones, and the series' .ics read back as calendar apps do."""
import re
from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
import recurring_ical_events
from icalendar import Calendar
from sqlalchemy import select

from soonish.bots.core import Commands, Speaker
from soonish.models import (
    Event, EventStatus, Notification, NotificationKind, Series, SeriesFollow, Subscription, SubscriptionSelector, SubscriptionStatus, db,
)
from soonish.domain.series.occurrences import materialize_series
from soonish.services import series as series_service
from soonish.services.temporal import keep_series_schedule
from soonish.temporal.series.activities import SeriesScope

from .api_helpers import add_integration
from .conftest import csrf_token
from loopback.sinks import wait_until
from .temporal_helpers import wait_for_schedules

PARIS = ZoneInfo("Europe/Paris")
ALICE = Speaker(platform="slack", workspace_id="T0TEAM", user_id="U0ALICE", display_name="alice")


@pytest.fixture
def organizer(make_user, bearer):
    return bearer(make_user("host@example.com"))


def next_weekday(weekday: int, days_ahead: int = 2) -> date:
    """The first date with ``weekday`` (0 = Monday) at least ``days_ahead`` days from today."""
    start = datetime.now(timezone.utc).date() + timedelta(days=days_ahead)
    return start + timedelta(days=(weekday - start.weekday()) % 7)


def create_series(client, headers, expect: int = 201, **fields) -> dict:
    body = {"title": "Book club", "timezone": "Europe/Paris", "location": "Library",
            "starts_at": f"{next_weekday(1)}T19:00:00", "ends_at": f"{next_weekday(1)}T21:00:00",
            "rrule": "FREQ=WEEKLY;BYDAY=TU;COUNT=6"}
    body.update(fields)
    response = client.post("/api/v1/series", json=body, headers=headers)
    assert response.status_code == expect, response.get_json()
    return response.get_json()


def local_starts(app, series_id: int) -> list[datetime]:
    with app.app_context():
        events = db.session.scalars(select(Event).where(Event.series_id == series_id).order_by(Event.starts_at))
        return [event.starts_at.astimezone(PARIS).replace(tzinfo=None) for event in events]


def test_a_weekly_series_keeps_19_00_local_across_the_daylight_saving_change(app, client, organizer):
    # Paris moves its clocks on Sunday 28 March 2027: 19:00 is 18:00 UTC before, 17:00 UTC after.
    series = create_series(client, organizer, starts_at="2027-03-16T19:00:00", ends_at="2027-03-16T21:00:00",
                           rrule="FREQ=WEEKLY;BYDAY=TU;COUNT=4")
    assert series["summary"] == "every Tuesday at 19:00"
    assert series["upcoming"] == []  # March is beyond the horizon: nothing is made yet
    with app.app_context():
        made = materialize_series(series["id"], now=datetime(2027, 3, 10, tzinfo=timezone.utc))
        events = list(db.session.scalars(select(Event).where(Event.series_id == series["id"]).order_by(Event.starts_at)))
    assert made == 4
    assert [e.starts_at.astimezone(PARIS).strftime("%a %d %H:%M") for e in events] == [
        "Tue 16 19:00", "Tue 23 19:00", "Tue 30 19:00", "Tue 06 19:00"]
    assert [e.starts_at.hour for e in events] == [18, 18, 17, 17]  # UTC
    assert [e.ends_at - e.starts_at for e in events] == [timedelta(hours=2)] * 4
    assert all(e.occurrence_start == e.starts_at for e in events)


def test_occurrences_are_made_ahead_on_a_rolling_horizon_and_only_once(app, client, organizer):
    series = create_series(client, organizer, rrule="FREQ=WEEKLY;BYDAY=TU;COUNT=20")
    # The first Tuesday is 2 to 8 days away; 8 weeks ahead hold 7 or 8 of them (at most 10).
    assert 7 <= len(series["upcoming"]) <= 8
    with app.app_context():
        assert materialize_series(series["id"]) == 0  # idempotent
        later = datetime.now(timezone.utc) + timedelta(weeks=4)
        assert materialize_series(series["id"], now=later) == 4
        stored = db.session.get(Series, series["id"])
        assert stored.materialized_until == max(
            db.session.scalars(select(Event.occurrence_start).where(Event.series_id == series["id"])))
    starts = local_starts(app, series["id"])
    assert len(starts) == len(set(starts)) == len(series["upcoming"]) + 4
    assert {start.strftime("%a %H:%M") for start in starts} == {"Tue 19:00"}


@pytest.mark.parametrize("rule, says", [
    ("FREQ=WEEKLY;BYDAY=TU", "must end"),
    ("FREQ=WEEKLY;BYDAY=TU;BYHOUR=9;COUNT=3", "Unsupported rule part BYHOUR"),
    ("FREQ=DAILY;COUNT=3", "WEEKLY or MONTHLY"),
    ("FREQ=WEEKLY;COUNT=500", "COUNT must be"),
    ("FREQ=WEEKLY;UNTIL=20400101", "up to 731 days"),
    ("FREQ=WEEKLY;BYDAY=2TU;COUNT=3", "weekly rule takes plain weekdays"),
    ("FREQ=MONTHLY;BYDAY=TU,TH;COUNT=3", "one weekday and its position"),
    ("FREQ=WEEKLY;BYDAY=XX;COUNT=3", "Not a rule"),
    ("FREQ=WEEKLY;INTERVAL=40;COUNT=3", "INTERVAL must be"),
])
def test_a_rule_soonish_cannot_use_is_a_422_naming_rrule(client, organizer, rule, says):
    body = create_series(client, organizer, expect=422, rrule=rule)
    assert says in " ".join(body["error"]["fields"]["rrule"]), body


def test_monthly_rules_by_weekday_position_and_by_day(app, client, organizer):
    second_tuesday = create_series(client, organizer, rrule="FREQ=MONTHLY;BYDAY=2TU;COUNT=3")
    assert second_tuesday["rrule"] == "FREQ=MONTHLY;BYDAY=TU;BYSETPOS=2;COUNT=3"
    assert second_tuesday["summary"] == "every month on the 2nd Tuesday at 19:00"
    for start in local_starts(app, second_tuesday["id"]):
        assert start.weekday() == 1 and 8 <= start.day <= 14
    fifteenth = create_series(client, organizer, rrule="FREQ=MONTHLY;BYMONTHDAY=15;COUNT=2")
    assert fifteenth["summary"] == "every month on day 15 at 19:00"
    assert {start.day for start in local_starts(app, fifteenth["id"])} == {15}


def test_a_series_follower_is_subscribed_to_every_occurrence_and_gets_its_reminders(
    app, client, make_user, bearer, organizer, worker, harness, temporal_env, http_sink
):
    app.config["SERIES_HORIZON_DAYS"] = 15  # two or three occurrences now, more when the schedule runs
    series = create_series(client, organizer, rrule="FREQ=WEEKLY;BYDAY=TU;COUNT=6")
    first_made = [o["id"] for o in series["upcoming"]]
    ada = bearer(make_user("ada@example.com"))
    hook = add_integration(client, ada, http_sink.url("/ada"))
    response = client.post(f"/api/v1/series/{series['id']}/follow", headers=ada,
                           json={"selectors": [{"integration_id": hook["id"]}], "reminder_offsets": ["1d"]})
    assert response.status_code == 201 and response.get_json()["status"] == "active", response.get_json()
    for event_id in first_made:
        wait_for_schedules(harness, temporal_env, app, event_id, {86400})

    # The daily run, as its schedule starts it, makes the rest with ada subscribed.
    app.config["SERIES_HORIZON_DAYS"] = 56
    with app.app_context():
        assert keep_series_schedule() == "created"
    schedule = temporal_env.client.get_schedule_handle(SeriesScope.from_config(app.config).schedule_id)
    harness.run(schedule.trigger())
    wait_until(lambda: len(local_starts(app, series["id"])) == 6, timeout=60, message="the daily run's occurrences")
    with app.app_context():
        events = list(db.session.scalars(select(Event).where(Event.series_id == series["id"]).order_by(Event.starts_at)))
        subscriptions = {s.event_id: s for s in db.session.scalars(select(Subscription).where(
            Subscription.event_id.in_([e.id for e in events])))}
        assert set(subscriptions) == {e.id for e in events}
        for subscription in subscriptions.values():
            assert subscription.status == SubscriptionStatus.ACTIVE
            assert subscription.reminder_offsets == [86400]
            assert [s.integration_id for s in subscription.selectors] == [hook["id"]]
        event_ids = [e.id for e in events]
    for event_id in event_ids:
        wait_for_schedules(harness, temporal_env, app, event_id, {86400})

    # Skipping one occurrence leaves that one only; leaving the series stops the rest.
    skipped = subscriptions[event_ids[1]].id
    assert client.delete(f"/api/v1/subscriptions/{skipped}", headers=ada).status_code == 204
    wait_for_schedules(harness, temporal_env, app, event_ids[1], set())
    wait_for_schedules(harness, temporal_env, app, event_ids[2], {86400})
    assert client.delete(f"/api/v1/series/{series['id']}/follow", headers=ada).status_code == 204
    for event_id in event_ids:
        wait_for_schedules(harness, temporal_env, app, event_id, set())
    with app.app_context():
        assert db.session.scalars(select(SeriesFollow)).all() == []
    assert client.delete(f"/api/v1/series/{series['id']}/follow", headers=ada).status_code == 404
    harness.run(schedule.delete())


def test_this_and_following_moves_the_rest_to_a_new_series_with_the_same_followers(
    app, client, make_user, bearer, organizer
):
    series = create_series(client, organizer, rrule="FREQ=WEEKLY;BYDAY=TU;COUNT=6")
    ada = bearer(make_user("ada@example.com"))
    assert client.post(f"/api/v1/series/{series['id']}/follow", headers=ada, json={}).status_code == 201
    third = series["upcoming"][2]
    third_day = datetime.fromisoformat(third["starts_at"]).astimezone(PARIS).date()
    response = client.patch(f"/api/v1/series/{series['id']}/occurrences/{third['id']}", headers=organizer, json={
        "scope": "following", "title": "Book club (new room)", "starts_at": f"{third_day}T20:00:00",
        "ends_at": f"{third_day}T22:30:00",
    })
    assert response.status_code == 200, response.get_json()
    moved = response.get_json()
    assert moved["title"] == "Book club (new room)" and moved["series_id"] != series["id"]
    old = client.get(f"/api/v1/series/{series['id']}", headers=organizer).get_json()
    assert old["rrule"] == f"FREQ=WEEKLY;BYDAY=TU;UNTIL={third_day - timedelta(days=1):%Y%m%d}"
    assert [o["id"] for o in old["upcoming"]] == [o["id"] for o in series["upcoming"][:2]]
    new = client.get(f"/api/v1/series/{moved['series_id']}", headers=organizer).get_json()
    assert new["rrule"] == "FREQ=WEEKLY;BYDAY=TU;COUNT=4"
    assert new["summary"] == "every Tuesday at 20:00" and new["duration_seconds"] == 2.5 * 3600
    assert [o["title"] for o in new["upcoming"]] == ["Book club (new room)"] * 4
    assert {datetime.fromisoformat(o["starts_at"]).astimezone(PARIS).strftime("%a %H:%M") for o in new["upcoming"]} == {
        "Tue 20:00"}
    assert new["upcoming"][0]["id"] == third["id"]
    assert local_starts(app, series["id"])[:2] == [
        datetime.fromisoformat(o["starts_at"]).astimezone(PARIS).replace(tzinfo=None) for o in series["upcoming"][:2]]
    with app.app_context():
        assert {f.series_id for f in db.session.scalars(select(SeriesFollow))} == {series["id"], new["id"]}
        followed = set(db.session.scalars(select(Subscription.event_id).where(
            Subscription.status == SubscriptionStatus.ACTIVE)))
    assert {o["id"] for o in old["upcoming"] + new["upcoming"]} <= followed


def test_editing_the_rule_from_an_occurrence_cancels_the_days_it_no_longer_has(app, client, organizer):
    series = create_series(client, organizer, rrule="FREQ=WEEKLY;BYDAY=TU;COUNT=6")
    second = series["upcoming"][1]
    response = client.patch(f"/api/v1/series/{series['id']}/occurrences/{second['id']}", headers=organizer,
                            json={"scope": "following", "rrule": "FREQ=WEEKLY;INTERVAL=2;BYDAY=TU;COUNT=3"})
    assert response.status_code == 200, response.get_json()
    with app.app_context():
        statuses = {e.id: e.status for e in db.session.scalars(select(Event).where(
            Event.id.in_([o["id"] for o in series["upcoming"]])))}
    ids = [o["id"] for o in series["upcoming"]]
    # From the second on, every other week stays; the weeks between are cancelled.
    assert [statuses[i] for i in ids[1:6]] == [EventStatus.SCHEDULED, EventStatus.CANCELLED, EventStatus.SCHEDULED,
                                               EventStatus.CANCELLED, EventStatus.SCHEDULED]
    carried_on = response.get_json()["series_id"]
    bad = client.patch(f"/api/v1/series/{carried_on}/occurrences/{second['id']}", headers=organizer,
                       json={"scope": "this", "rrule": "FREQ=WEEKLY;COUNT=2"})
    assert bad.status_code == 422 and "rrule" in bad.get_json()["error"]["fields"]
    # The old series no longer holds it.
    gone = client.patch(f"/api/v1/series/{series['id']}/occurrences/{second['id']}", headers=organizer,
                        json={"scope": "this", "title": "x"})
    assert gone.status_code == 404


def test_the_series_ics_expands_to_its_occurrences_with_exdates_and_overrides(app, client, organizer):
    series = create_series(client, organizer, rrule="FREQ=WEEKLY;BYDAY=TU,TH;COUNT=6")
    upcoming = series["upcoming"]
    assert client.post(f"/api/v1/events/{upcoming[1]['id']}/cancel", headers=organizer).status_code == 200
    with app.app_context():  # the notice goes to that occurrence's followers only
        notices = db.session.scalars(select(Notification).where(Notification.kind == NotificationKind.CANCEL)).all()
        assert [notice.event_id for notice in notices] == [upcoming[1]["id"]]
    fourth_day = datetime.fromisoformat(upcoming[3]["starts_at"]).astimezone(PARIS).date()
    response = client.patch(f"/api/v1/series/{series['id']}/occurrences/{upcoming[3]['id']}", headers=organizer,
                            json={"scope": "this", "title": "Book club: author visit", "starts_at": f"{fourth_day}T18:00:00"})
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["occurrence_start"] == upcoming[3]["starts_at"]  # the RECURRENCE-ID stays

    ics = client.get(f"/series/{series['slug']}.ics")
    assert ics.status_code == 200 and ics.mimetype == "text/calendar"
    calendar = Calendar.from_ical(ics.data)
    master, override = calendar.walk("VEVENT")
    assert master.decoded("dtstart").tzinfo.key == "Europe/Paris"
    assert str(master["rrule"].to_ical().decode()).startswith("FREQ=WEEKLY;COUNT=6;BYDAY=TU,TH")
    assert override.decoded("recurrence-id") == datetime.fromisoformat(upcoming[3]["starts_at"])
    assert str(override["uid"]) == str(master["uid"])

    instances = recurring_ical_events.of(calendar).between(datetime(2026, 1, 1), datetime(2029, 1, 1))
    got = [(str(i["summary"]), i.decoded("dtstart").astimezone(PARIS).strftime("%Y-%m-%d %H:%M")) for i in instances]
    expected = []
    for index, occurrence in enumerate(upcoming[:6]):
        start = datetime.fromisoformat(occurrence["starts_at"]).astimezone(PARIS)
        if index == 1:
            continue  # cancelled: an EXDATE
        if index == 3:
            expected.append(("Book club: author visit", f"{fourth_day} 18:00"))
        else:
            expected.append(("Book club", start.strftime("%Y-%m-%d %H:%M")))
    assert sorted(got, key=lambda pair: pair[1]) == expected


def test_the_personal_feed_shows_each_followed_occurrence_with_its_alarms(app, client, make_user, bearer, organizer, login):
    series = create_series(client, organizer, rrule="FREQ=WEEKLY;BYDAY=TU;COUNT=3")
    user = make_user("ada@example.com")
    ada = bearer(user)
    assert client.post(f"/api/v1/series/{series['id']}/follow", headers=ada, json={"reminder_offsets": ["2h"]}).status_code == 201
    from soonish.services.calendar import rotate_feed_token
    with app.app_context():
        from soonish.models import User
        token = rotate_feed_token(db.session.get(User, user.id))
    calendar = Calendar.from_ical(client.get(f"/calendar/{token}.ics").data)
    entries = calendar.walk("VEVENT")
    assert len(entries) == 3
    assert all([a.decoded("trigger") for a in e.walk("VALARM")] == [-timedelta(hours=2)] for e in entries)


def test_cancelling_a_series_cancels_its_upcoming_occurrences(app, client, organizer):
    series = create_series(client, organizer, rrule="FREQ=WEEKLY;BYDAY=TU;COUNT=3")
    response = client.delete(f"/api/v1/series/{series['id']}", headers=organizer)
    assert response.status_code == 200 and response.get_json()["status"] == "cancelled"
    assert {o["status"] for o in response.get_json()["upcoming"]} == {"cancelled"}
    with app.app_context():
        assert materialize_series(series["id"]) == 0


def test_the_series_page_lists_its_occurrences_and_an_occurrence_links_to_it(client, organizer):
    series = create_series(client, organizer, rrule="FREQ=WEEKLY;BYDAY=TU;COUNT=3")
    page = client.get(f"/series/{series['slug']}")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "every Tuesday at 19:00" in html and "Follow all" not in html  # signed out: follow by email
    for occurrence in series["upcoming"]:
        assert f"/e/{occurrence['slug']}" in html
    # A link preview, as an event's.
    assert '<meta property="og:title" content="Book club">' in html and 'name="twitter:card"' in html


def test_a_visitor_follows_a_series_by_email_and_the_link_follows_every_occurrence(app, client, organizer, smtp_sink, worker):
    series = create_series(client, organizer, rrule="FREQ=WEEKLY;BYDAY=TU;COUNT=3")
    page = f"/series/{series['slug']}"
    bad = client.post(f"{page}/follow-by-email", data={"email": "nope", "csrf_token": csrf_token(client, page)})
    assert bad.status_code == 422 and "doesn" in bad.get_data(as_text=True) and 'value="nope"' in bad.get_data(as_text=True)
    sent = client.post(f"{page}/follow-by-email", data={"email": "Reader@Example.com", "csrf_token": csrf_token(client, page)})
    assert sent.status_code == 302 and "Check your inbox" in client.get(page).get_data(as_text=True)
    with app.app_context():  # double opt-in: nothing stored before the link is opened
        assert db.session.scalar(select(SeriesFollow)) is None
    mail = smtp_sink.wait_for(1)[0]
    assert mail["X-Envelope-To"] == "reader@example.com" and mail["Subject"] == "Confirm: follow Book club"
    entry = Calendar.from_ical(next(mail.iter_attachments()).get_payload(decode=True)).walk("VEVENT")[0]
    assert entry.decoded("dtstart") == datetime.fromisoformat(series["upcoming"][0]["starts_at"])
    link = next(word for word in mail.get_body(preferencelist=("plain",)).get_content().split()
                if "/series/follows/confirm/" in word)
    assert client.get(link.removeprefix("http://soonish.test")).status_code == 302
    assert client.get(link.removeprefix("http://soonish.test")).status_code == 302  # twice is harmless
    with app.app_context():
        follow = db.session.scalars(select(SeriesFollow)).one()
        assert follow.user.email == "reader@example.com" and follow.user.is_verified
        followed = db.session.scalars(select(Subscription.event_id).where(
            Subscription.user_id == follow.user_id, Subscription.status == SubscriptionStatus.ACTIVE)).all()
    assert sorted(followed) == sorted(occurrence["id"] for occurrence in series["upcoming"])


def series_form(client, path: str, **overrides) -> dict:
    day = next_weekday(1)
    data = {"title": "Book club", "starts_at": f"{day}T19:00", "ends_at": f"{day}T21:00", "timezone": "Europe/Paris",
            "location": "Library", "description": "", "visibility": "public", "csrf_token": csrf_token(client, path)}
    data.update(overrides)
    return data


def test_the_event_form_makes_a_weekly_series_and_its_page_lists_the_occurrences(app, client, make_user, login):
    login(make_user("host@example.com"))
    response = client.post("/events/new", data=series_form(
        client, "/events/new", repeats="weekly", repeat_interval="1", repeat_weekdays=["TU", "TH"], repeat_count="4"))
    assert response.status_code == 302, response.get_data(as_text=True)
    with app.app_context():
        series = db.session.scalars(select(Series)).one()
        assert series.rrule == "FREQ=WEEKLY;BYDAY=TU,TH;COUNT=4"
        occurrences = series_service.occurrences(series)
        slugs = [event.slug for event in occurrences]
    assert response.headers["Location"].endswith(f"/series/{series.slug}")
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "every Tuesday and Thursday at 19:00" in page and "Follow all" in page
    assert len(slugs) == 4 and all(f"/e/{slug}" in page for slug in slugs)
    # An occurrence's page says it is part of the series and links to it.
    occurrence_page = client.get(f"/e/{slugs[0]}").get_data(as_text=True)
    assert "Part of a series: every Tuesday and Thursday at 19:00" in occurrence_page
    assert f'href="/series/{series.slug}"' in occurrence_page
    # Its edit form asks: this occurrence, or this and following.
    with app.app_context():
        first_id = occurrences[0].id
    edit = client.get(f"/events/{first_id}/edit").get_data(as_text=True)
    assert "This occurrence only" in edit and "This and all following occurrences" in edit


@pytest.mark.parametrize("overrides, message", [
    ({"repeats": "weekly"}, "A series must end"),
    ({"repeats": "monthly_day", "repeat_until": "2040-01-01"}, "A series may run for up to 731 days"),
    ({"repeats": "weekly", "repeat_count": "500"}, "Number must be between 1 and 104"),
])
def test_a_series_the_form_cannot_make_is_explained_beside_repeats(app, client, make_user, login, overrides, message):
    login(make_user("host@example.com"))
    response = client.post("/events/new", data=series_form(client, "/events/new", **overrides))
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert message in page and 'aria-invalid="true"' in page
    with app.app_context():
        assert db.session.query(Series).count() == 0 and db.session.query(Event).count() == 0


def test_the_edit_form_applies_a_change_to_this_and_following_occurrences(app, client, make_user, login):
    login(make_user("host@example.com"))
    client.post("/events/new", data=series_form(client, "/events/new", repeats="weekly", repeat_count="4"))
    with app.app_context():
        series = db.session.scalars(select(Series)).one()
        occurrences = series_service.occurrences(series)
        second = occurrences[1]
        second_day = second.starts_at.astimezone(PARIS).date()
        edit_path = f"/events/{second.id}/edit"
        version = second.version
    response = client.post(edit_path, data=series_form(
        client, edit_path, title="Book club, new room", starts_at=f"{second_day}T19:00", ends_at=f"{second_day}T21:00",
        scope="following", version=str(version)))
    assert response.status_code == 302, response.get_data(as_text=True)
    with app.app_context():
        titles = [db.session.get(Event, event.id).title for event in occurrences]
    assert titles == ["Book club", "Book club, new room", "Book club, new room", "Book club, new room"]


def test_subscribe_in_chat_follows_every_occurrence_of_a_series(app, client, organizer):
    series = create_series(client, organizer, rrule="FREQ=WEEKLY;BYDAY=TU;COUNT=3")
    commands = Commands(app)
    reply = commands.run(ALICE, f"subscribe {series['slug']}")
    assert reply.ok, reply.text
    assert "every occurrence of Book club (every Tuesday at 19:00)" in reply.text

    def followed() -> dict[int, SubscriptionStatus]:
        with app.app_context():
            return {s.event_id: s.status for s in db.session.scalars(select(Subscription).where(
                Subscription.event_id.in_([o["id"] for o in series["upcoming"]])))}

    assert followed() == {o["id"]: SubscriptionStatus.ACTIVE for o in series["upcoming"]}
    with app.app_context():
        routes = {sel.chat_identity_id for sel in db.session.scalars(select(SubscriptionSelector))}
        assert len(routes) == 1 and None not in routes  # alice's DM
    reply = commands.run(ALICE, f"unsubscribe <{series['url']}|club>")  # a link as Slack sends it
    assert reply.ok and "no longer follow Book club" in reply.text
    assert set(followed().values()) == {SubscriptionStatus.UNSUBSCRIBED}
    assert "I can't find the event “no-such-series”" in commands.run(ALICE, "subscribe no-such-series").text


def test_erasing_an_account_stops_its_series_and_its_series_follows(app, client, make_user, bearer, organizer):
    from soonish.models import User
    from soonish.services.erasure import erase

    series = create_series(client, organizer, rrule="FREQ=WEEKLY;BYDAY=TU;COUNT=20")
    user = make_user("ada@example.com")
    assert client.post(f"/api/v1/series/{series['id']}/follow", headers=bearer(user), json={}).status_code == 201
    other = create_series(client, bearer(user), title="Ada's walks", rrule="FREQ=WEEKLY;BYDAY=SA;COUNT=20")
    with app.app_context():
        erase(db.session.get(User, user.id))
        assert db.session.scalars(select(SeriesFollow)).all() == []
        assert db.session.get(Series, other["id"]).status.value == "cancelled"
        # Occurrences made later do not subscribe the erased follower.
        later = datetime.now(timezone.utc) + timedelta(weeks=6)
        assert materialize_series(series["id"], now=later) > 0
        assert not db.session.scalars(select(Subscription).where(
            Subscription.user_id == user.id, Subscription.status == SubscriptionStatus.ACTIVE)).all()


def test_changing_the_whole_series_changes_its_upcoming_occurrences(app, client, organizer):
    series = create_series(client, organizer, rrule="FREQ=WEEKLY;BYDAY=TU;COUNT=3")
    response = client.patch(f"/api/v1/series/{series['id']}", headers=organizer,
                            json={"title": "Reading circle", "location": "Café"})
    assert response.status_code == 200, response.get_json()
    changed = response.get_json()
    assert changed["id"] == series["id"]  # nothing past yet: changed in place
    assert [(o["id"], o["title"]) for o in changed["upcoming"]] == [(o["id"], "Reading circle") for o in series["upcoming"]]
    bad = client.patch(f"/api/v1/series/{series['id']}", headers=organizer, json={"rrule": "FREQ=YEARLY;COUNT=2"})
    assert bad.status_code == 422 and "rrule" in bad.get_json()["error"]["fields"]


def test_anyone_follows_a_series_by_email_over_the_api_by_id_or_by_link_double_opt_in(
        app, client, organizer, smtp_sink, worker):
    public = create_series(client, organizer, rrule="FREQ=WEEKLY;BYDAY=TU;COUNT=3")
    unlisted = create_series(client, organizer, title="Quiet club", visibility="unlisted",
                             rrule="FREQ=WEEKLY;BYDAY=TU;COUNT=2")
    missing = client.post(f"/api/v1/series/{public['id']}/follow", json={})
    assert missing.status_code == 422 and "email" in missing.get_json()["error"]["fields"]
    bad = client.post(f"/api/v1/series/{public['id']}/follow", json={"email": "reader@example.invalid"})
    assert bad.status_code == 422 and "email" in bad.get_json()["error"]["fields"]
    # An unlisted series is followed only by its link, as it is read.
    assert client.post(f"/api/v1/series/{unlisted['id']}/follow", json={"email": "reader@example.com"}).status_code == 404

    sent = client.post(f"/api/v1/series/{public['id']}/follow", json={"email": "Reader@Example.com"},
                       headers={"Accept-Language": "fr"})
    assert sent.status_code == 202 and sent.get_json() == {"series_id": public["id"], "status": "pending"}
    by_link = client.post(f"/api/v1/series/by-slug/{unlisted['slug']}/follow", json={"email": "reader@example.com"})
    assert by_link.status_code == 202 and by_link.get_json()["series_id"] == unlisted["id"]
    with app.app_context():  # double opt-in: nothing stored before a link is opened
        assert db.session.scalar(select(SeriesFollow)) is None
    mails = {mail["Subject"]: mail for mail in smtp_sink.wait_for(2)}
    assert set(mails) == {"Confirmez\u00a0: suivre Book club", "Confirm: follow Quiet club"}  # as each request asked
    for mail in mails.values():
        assert mail["X-Envelope-To"] == "reader@example.com"
        link = next(word for word in mail.get_body(preferencelist=("plain",)).get_content().split()
                    if "/series/follows/confirm/" in word)
        assert client.get(link.removeprefix("http://soonish.test")).status_code == 302
    with app.app_context():
        assert sorted(f.series_id for f in db.session.scalars(select(SeriesFollow))) == sorted(
            [public["id"], unlisted["id"]])

    spec = client.get("/api/v1/openapi.json").get_json()
    assert spec["components"]["schemas"]["SeriesFollowIn"]["properties"]["email"]["maxLength"] == 254
    for path in ("/api/v1/series/{series_id}/follow", "/api/v1/series/by-slug/{slug}/follow"):
        assert {"201", "202", "200", "422"} <= set(spec["paths"][path]["post"]["responses"])


def _link(mail, says: str) -> str:
    """The path of the link on the plain-text line that starts with ``says``, or of the first
    link to a path that starts with it."""
    text = mail.get_body(preferencelist=("plain",)).get_content()
    if says.startswith("/"):
        return next(word for word in text.split() if word.startswith("http://soonish.test" + says)).removeprefix(
            "http://soonish.test")
    line = next(line for line in text.splitlines() if line.startswith(says))
    return line.split()[-1].removeprefix("http://soonish.test")


def test_leave_the_whole_series_from_an_occurrence_mail_or_its_manage_page_stops_every_occurrence(
        app, client, organizer, smtp_sink, worker):
    series = create_series(client, organizer, rrule="FREQ=WEEKLY;BYDAY=TU;COUNT=3")
    first, second = (occurrence["id"] for occurrence in series["upcoming"][:2])
    for address in ("reader@example.com", "stays@example.com"):
        assert client.post(f"/api/v1/series/{series['id']}/follow", json={"email": address}).status_code == 202
        wait_until(lambda: smtp_sink.to(address), message=f"the confirm mail to {address}")
        assert client.get(_link(smtp_sink.to(address)[-1], "/series/follows/confirm/")).status_code == 302
    # Someone who follows one occurrence alone is offered no series to leave.
    assert client.post(f"/api/v1/events/{first}/subscriptions", json={"email": "loner@example.com"}).status_code == 202
    wait_until(lambda: smtp_sink.to("loner@example.com"), message="the loner's confirm mail")
    assert client.get(_link(smtp_sink.to("loner@example.com")[-1], "/s/confirm/")).status_code == 200

    def moved(event_id: int, where: str) -> None:
        changed = client.patch(f"/api/v1/series/{series['id']}/occurrences/{event_id}", headers=organizer,
                               json={"scope": "this", "location": where})
        assert changed.status_code == 200, changed.get_json()

    moved(first, "Town hall")
    wait_until(lambda: len(smtp_sink.to("reader@example.com")) == 2, message="the update mail")
    update = smtp_sink.to("reader@example.com")[-1]
    leave = _link(update, "Leave the whole series:")
    assert leave.startswith("/series/leave/") and f'href="http://soonish.test{leave}"' in update.get_body(
        preferencelist=("html",)).get_content()
    def loners_update():
        texts = [m.get_body(preferencelist=("plain",)).get_content() for m in smtp_sink.to("loner@example.com")]
        return next((text for text in texts if "Town hall" in text), None)

    wait_until(loners_update, message="the loner's update mail")
    assert "Manage reminders:" in loners_update() and "Leave the whole series" not in loners_update()
    manage = client.get(_link(update, "Manage reminders:")).get_data(as_text=True)
    # The manage page's one-step button, to the same series (signed at its own time).
    from_manage = re.search(r'action="(/series/leave/[^"]+)"', manage).group(1)
    assert "Leave every date of “Book club”?" in client.get(from_manage).get_data(as_text=True)

    # Opening the link only asks (link scanners open links); the button leaves, once or twice.
    asked = client.get(leave)
    assert asked.status_code == 200 and f'action="{leave}"' in asked.get_data(as_text=True)
    with app.app_context():
        assert db.session.scalar(select(SeriesFollow).join(SeriesFollow.user).where(
            SeriesFollow.user.has(email="reader@example.com"))) is not None
    for _ in range(2):
        left = client.post(leave)
        assert left.status_code == 200 and "You left the whole series" in left.get_data(as_text=True)
    with app.app_context():
        follows = db.session.scalars(select(SeriesFollow)).all()
        assert [f.user.email for f in follows] == ["stays@example.com"]
        reader_subscriptions = db.session.scalars(select(Subscription).where(
            Subscription.user.has(email="reader@example.com"))).all()
        assert {s.status for s in reader_subscriptions} == {SubscriptionStatus.UNSUBSCRIBED}
    assert client.get(leave).status_code == 200 and "You no longer follow this series" in client.get(
        leave).get_data(as_text=True)
    assert client.get("/series/leave/not-a-token").status_code == 404

    # The next occurrence's news reaches the one who stayed, and not the one who left.
    before = len(smtp_sink.to("reader@example.com"))
    moved(second, "Park")
    wait_until(lambda: len(smtp_sink.to("stays@example.com")) == 3, message="the second update mail")
    assert len(smtp_sink.to("reader@example.com")) == before
