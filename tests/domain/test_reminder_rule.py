"""THE reminder rule (soonish.domain.delivery.reminders), with a database and no Temporal."""
from datetime import timedelta

from flask import render_template

from soonish.domain.delivery import planning, reminders
from soonish.domain.delivery.pacing import MAIL_SERVER, BudgetSettings, least_seconds
from soonish.field_limits import TITLE_MAX
from soonish.models import (
    Delivery, DeliveryStatus, EventStatus, Integration, Notification, NotificationKind, Rsvp, RsvpAnswer, Subscription, SubscriptionSelector, User,
    db, utcnow,
)
from soonish.services import notifications as notification_service


def test_due_time_is_the_offset_before_the_start(event):
    assert reminders.due_at(event.starts_at, 3600) == event.starts_at - timedelta(hours=1)


def test_a_reminder_stands_until_the_event_moves_is_cancelled_or_starts(event):
    key = reminders.dedupe_key(event.id, 3600, event.starts_at)
    assert reminders.still_stands(event, 3600, key)
    assert not reminders.still_stands(event, 3600, key, now=event.starts_at)  # started
    old_start = event.starts_at
    event.starts_at = old_start + timedelta(hours=2)
    assert not reminders.still_stands(event, 3600, key)  # made for the old time
    assert reminders.still_stands(event, 3600, reminders.dedupe_key(event.id, 3600, event.starts_at))
    event.status = EventStatus.CANCELLED
    assert not reminders.still_stands(event, 3600, reminders.dedupe_key(event.id, 3600, event.starts_at))


def test_the_start_message_is_the_reminder_at_offset_0_and_may_go_a_little_late(event):
    start = reminders.START_OFFSET
    key = reminders.dedupe_key(event.id, start, event.starts_at)
    assert reminders.title(event, start) == f"Starting now: {event.title}"
    assert reminders.still_stands(event, start, key, now=event.starts_at + timedelta(minutes=4))
    assert not reminders.still_stands(event, start, key, now=event.starts_at + reminders.START_MESSAGE_GRACE)
    # Not for a real reminder: that one is over at the start.
    assert not reminders.still_stands(event, 60, reminders.dedupe_key(event.id, 60, event.starts_at), now=event.starts_at)
    event.status = EventStatus.COMPLETED  # an event without an end completes at its start
    assert reminders.still_stands(event, start, key, now=event.starts_at + timedelta(minutes=1))
    event.status = EventStatus.CANCELLED
    assert not reminders.still_stands(event, start, key, now=event.starts_at)


def test_a_reminder_notification_is_made_once_and_only_while_it_stands(event, follow):
    asked = reminders.Reminder(event.id, 3600, event.starts_at)
    first = reminders.make_notifications([asked, asked])
    again = reminders.make_notifications([asked])
    assert [n.id for n in first] == [n.id for n in again]
    assert first[0].kind == NotificationKind.REMINDER and first[0].reminder_offset == 3600
    assert first[0].dedupe_key == asked.key
    assert reminders.make_notifications([reminders.Reminder(event.id, 3600, event.starts_at - timedelta(hours=1))]) == []
    assert db.session.query(Notification).count() == 1


def test_a_long_title_is_clipped_to_the_one_title_limit(event):
    event.title = "x" * TITLE_MAX
    db.session.commit()
    (notification,) = reminders.make_notifications([reminders.Reminder(event.id, 90000, event.starts_at)])
    assert len(notification.title) == TITLE_MAX
    assert notification.title.startswith("Reminder: xxx") and notification.title.endswith("…")


def test_a_reminder_goes_to_the_holders_of_its_offset_only(event, follow):
    hour = follow("hour@example.com", [3600])
    day = follow("day@example.com", [86400])
    both = follow("both@example.com", [3600, 86400])
    (notification,) = reminders.make_notifications([reminders.Reminder(event.id, 3600, event.starts_at)])
    assert reminders.recipients_by_notification([notification]) == {notification.id: [hour.id, both.id]}
    # Planning a fan-out asks the same rule.
    assert planning.recipient_ids(notification) == [hour.id, both.id]
    announcement = Notification(event=event, kind=NotificationKind.ANNOUNCEMENT, title="Hi")
    db.session.add(announcement)
    db.session.commit()
    assert planning.recipient_ids(announcement) == [hour.id, day.id, both.id]


def test_the_schedule_plan_follows_the_offsets_in_use(event, follow):
    follow("a@example.com", [3600])
    follow("b@example.com", [3600, 600])
    plan = reminders.schedule_plan(event.id)
    assert (plan.starts_at, plan.offsets) == (event.starts_at, {600, 3600})
    event.status = EventStatus.CANCELLED
    db.session.commit()
    assert reminders.schedule_plan(event.id).offsets == set()
    assert reminders.schedule_plan(9999).starts_at is None
    assert utcnow() < event.starts_at


def answer(event, subscription, value: RsvpAnswer) -> None:
    db.session.add(Rsvp(event=event, user=subscription.user, answer=value))
    db.session.commit()


def test_the_still_coming_check_is_a_reminder_of_its_own_kind(event, follow):
    assert reminders.still_coming_offset(event) is None  # off unless the organizer asks
    event.still_coming_check, event.still_coming_hours = True, 24
    db.session.commit()
    check = reminders.still_coming_offset(event)
    assert check == -86400 and reminders.due_at(event.starts_at, check) == event.starts_at - timedelta(days=1)
    # Never the same as the one-day reminder: its own key (and schedule) for the same lead.
    assert reminders.dedupe_key(event.id, check, event.starts_at) == f"still-coming:{event.id}:86400:{event.starts_at.isoformat()}"
    assert reminders.dedupe_key(event.id, check, event.starts_at) != reminders.dedupe_key(event.id, 86400, event.starts_at)
    follow("reader@example.com", [86400])
    assert reminders.schedule_plan(event.id).offsets == {86400, check}
    event.rsvp_enabled = False  # no answers, no check
    db.session.commit()
    assert reminders.schedule_plan(event.id).offsets == {86400}


def test_the_check_goes_to_those_going_only_and_stands_while_the_event_asks_it(event, follow):
    event.still_coming_check, event.still_coming_hours = True, 2
    db.session.commit()
    going, maybe, waiting = follow("going@example.com"), follow("maybe@example.com"), follow("waiting@example.com")
    follow("silent@example.com")
    answer(event, going, RsvpAnswer.GOING)
    answer(event, maybe, RsvpAnswer.MAYBE)
    answer(event, waiting, RsvpAnswer.WAITLISTED)
    check = reminders.Reminder(event.id, -7200, event.starts_at)
    (notification,) = reminders.make_notifications([check])
    assert notification.kind == NotificationKind.STILL_COMING
    assert notification.title == "Still coming? Launch starts in 2 hours" and "Can't make it" in notification.body
    assert reminders.recipients_by_notification([notification]) == {notification.id: [going.id]}
    assert planning.recipient_ids(notification) == [going.id]
    assert reminders.still_stands(event, -7200, check.key)
    event.still_coming_hours = 3  # asked at another lead now: the 2-hour check is over
    assert not reminders.still_stands(event, -7200, check.key)
    event.still_coming_hours, event.still_coming_check = 2, False
    assert not reminders.still_stands(event, -7200, check.key)


def test_sends_start_early_enough_for_the_budgets_but_never_before_the_lead():
    due = utcnow().replace(microsecond=0)
    lead = timedelta(seconds=120)  # the schedules fire 2 minutes before the due time
    mail_server = BudgetSettings()  # our mail server's default budget: 100 a second
    assert least_seconds({MAIL_SERVER: 2_000}, mail_server) == 20
    # 2,000 mails take 20 s at the least, 21.7 s as a slot fills 0.92 of the budget: they start
    # 19.7 s early, so the last lands 2 s after the due time.
    assert reminders.sends_from(due, [300], 20, lead) == due - timedelta(seconds=20 / 0.92 - 2)
    # What fits in the grace starts on time.
    assert reminders.sends_from(due, [300], least_seconds({MAIL_SERVER: 150, "host:a.example": 150}, mail_server),
                                lead) == due
    # 10,000 need 108.7 s: 106.7 s early. 20,000 would need 217 s: never before the schedule
    # fires (the lead), nor more than 0.4 of the reminder's own offset early (a 5-minute
    # reminder 2 minutes, a 1-minute one 24 s).
    assert reminders.sends_from(due, [3600], 100, lead) == due - timedelta(seconds=100 / 0.92 - 2)
    assert reminders.sends_from(due, [3600], 200, lead) == due - lead
    assert reminders.sends_from(due, [300], 200, timedelta(seconds=600)) == due - timedelta(seconds=120)
    assert reminders.sends_from(due, [300, 60], 100, lead) == due - timedelta(seconds=24)
    # The "starting now" message is never early.
    assert reminders.sends_from(due, [reminders.START_OFFSET], 100, lead) == due
    # Each webhook host has a budget of its own: 10,000 spread over 100 hosts fit in the grace.
    spread = {f"host:h{n}.example": 100 for n in range(100)}
    assert reminders.sends_from(due, [300], least_seconds(spread, mail_server), lead) == due


def test_sends_are_counted_per_budget_from_the_channels_without_decrypting_them(event, follow):
    for n in range(3):
        follow(f"mail{n}@example.com")
    for n, host in enumerate(["a.example", "a.example", "b.example"]):
        user = User(email=f"hook{n}@example.com")
        hook = Integration(user=user, name="hook", url_mask=f"json://{host}", apprise_url_encrypted=b"not read")
        db.session.add(Subscription(event=event, user=user, selectors=[SubscriptionSelector(integration=hook)]))
    db.session.commit()
    ids = [s.id for s in db.session.query(Subscription)]
    assert planning.sends_per_budget(ids) == {MAIL_SERVER: 3, "host:a.example": 2, "host:b.example": 1}


def test_a_slot_counts_its_recipients_without_writing_anything(event, follow):
    follow("hour@example.com", offsets=[3600])
    follow("day@example.com", offsets=[86400])
    asked = [reminders.Reminder(event.id, 3600, event.starts_at),
             reminders.Reminder(event.id, 60, event.starts_at - timedelta(hours=1))]
    hour = db.session.query(Subscription).join(User).filter(User.email == "hour@example.com").one()
    # Only the standing reminder (the other was made for an old start time) and its holders.
    assert reminders.recipients_of(asked) == [hour.id]
    assert db.session.query(Notification).count() == 0


def test_who_got_it_says_when_a_reminder_started_early_and_why(domain_app, event, follow):
    """A reminder whose sends outlast the budgets at its due second starts early
    (reminders.sends_from); its "who got it" page names the due time and the early start."""
    due = reminders.due_at(event.starts_at, 3600)
    reminder = Notification(event=event, kind=NotificationKind.REMINDER, title="Starts in 1 hour",
                            reminder_offset=3600, dedupe_key=reminders.dedupe_key(event.id, 3600, event.starts_at))
    on_time = Notification(event=event, kind=NotificationKind.REMINDER, title="Starts in 1 day",
                           reminder_offset=86400, dedupe_key=reminders.dedupe_key(event.id, 86400, event.starts_at))
    db.session.add_all([reminder, on_time])
    for number, seconds_early in enumerate((95, 40, 1)):
        subscription = follow(f"f{number}@example.com", [3600, 86400])
        db.session.add(Delivery(notification=reminder, subscription=subscription, target=f"email:f{number}",
                                channel="email", status=DeliveryStatus.SENT, sent_at=due - timedelta(seconds=seconds_early)))
        db.session.add(Delivery(notification=on_time, subscription=subscription, target=f"email:f{number}",
                                channel="email", status=DeliveryStatus.SENT,
                                sent_at=reminders.due_at(event.starts_at, 86400) + timedelta(seconds=0.4)))
    # Not sent (its address bounced before): not among those the pace held up.
    db.session.add(Delivery(notification=reminder, subscription=follow("gone@example.com", [3600]), target="email:gone",
                            channel="email", status=DeliveryStatus.SUPPRESSED, last_error="this address bounced"))
    db.session.commit()

    listing = notification_service.recipients(event.organizer, event.id, reminder.id)
    assert listing.due_at == due
    assert listing.sent_early_by == timedelta(seconds=95)
    page = render_template("events/_recipients.html", event=event, listing=listing,
                           list_endpoint="events.recipients", list_args={"event_id": event.id, "notification_id": reminder.id})
    assert "95 s early" in page and "the last of 3 arrives on time (1 not sent: their addresses bounced)" in page

    # On time (or the schedule's jitter): nothing to explain.
    assert notification_service.recipients(event.organizer, event.id, on_time.id).sent_early_by is None
