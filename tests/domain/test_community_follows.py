"""Following a community (soonish.domain.community_follows): what each choice brings when the
community makes a new public event, once, and nothing for an event cancelled within the
update-coalescing window. A database alone: the drain's and the workflow's parts are plain calls."""
from datetime import timedelta

import pytest

from soonish.crypto import FieldCipher
from soonish.domain import community_follows, outbox
from soonish.domain.delivery import planning
from soonish.models import (
    Community, CommunityFollow, CommunityMember, CommunityRole, Delivery, Event, EventStatus, FollowMode, Notification,
    NotificationKind, OutboxItem, OutboxKind, Subscription, SubscriptionStatus, User, Visibility, db, utcnow,
)


@pytest.fixture
def community(domain_app) -> Community:
    host = User(email="host@example.com", display_name="Host")
    community = Community(slug="night-owls", name="Night Owls")
    db.session.add_all([host, community])
    db.session.flush()
    db.session.add(CommunityMember(community_id=community.id, user_id=host.id, role=CommunityRole.OWNER))
    for email, mode, status in [("told@example.com", FollowMode.NEW_EVENTS, SubscriptionStatus.ACTIVE),
                                ("auto@example.com", FollowMode.EVERY_EVENT, SubscriptionStatus.ACTIVE),
                                ("digest@example.com", FollowMode.DIGEST, SubscriptionStatus.ACTIVE),
                                ("unconfirmed@example.com", FollowMode.NEW_EVENTS, SubscriptionStatus.PENDING),
                                ("left@example.com", FollowMode.EVERY_EVENT, SubscriptionStatus.UNSUBSCRIBED)]:
        db.session.add(CommunityFollow(community=community, user=User(email=email), mode=mode, status=status))
    db.session.commit()
    return community


def new_event(community: Community, visibility=Visibility.PUBLIC, days: int = 3) -> Event:
    host = db.session.get(User, db.session.query(CommunityMember.user_id).filter_by(community_id=community.id).scalar())
    event = Event(slug=f"owl-walk-{days}-{visibility.value}", organizer=host, community_id=community.id,
                  title="Owl walk", starts_at=utcnow() + timedelta(days=days), visibility=visibility)
    db.session.add(event)
    db.session.flush()
    community_follows.event_created(event)
    db.session.commit()
    return event


def by_email(event: Event) -> dict[str, Subscription]:
    return {s.user.email: s for s in db.session.query(Subscription).filter_by(event_id=event.id)}


def test_the_new_event_row_waits_out_the_coalescing_window(community, domain_app):
    event = new_event(community)
    row = db.session.query(OutboxItem).filter_by(kind=OutboxKind.COMMUNITY_EVENT_CREATED).one()
    window = timedelta(seconds=domain_app.config["UPDATE_COALESCE_SECONDS"])
    assert row.event_id == event.id and row.claimed_until > utcnow() + window - timedelta(seconds=5)
    assert all(item.kind != OutboxKind.COMMUNITY_EVENT_CREATED for item in outbox.claim())


def test_an_unlisted_event_leaves_no_row(community):
    new_event(community, visibility=Visibility.UNLISTED)
    assert db.session.query(OutboxItem).filter_by(kind=OutboxKind.COMMUNITY_EVENT_CREATED).count() == 0


def test_each_choice_gets_what_it_chose_once(community, domain_app):
    event = new_event(community)
    notification_id = community_follows.tell_followers(event.id)

    subscriptions = by_email(event)
    assert set(subscriptions) == {"told@example.com", "auto@example.com"}  # no digest, pending or left follower
    assert subscriptions["told@example.com"].status == SubscriptionStatus.SUGGESTED
    assert subscriptions["auto@example.com"].status == SubscriptionStatus.ACTIVE
    notification = db.session.get(Notification, notification_id)
    assert notification.kind == NotificationKind.COMMUNITY_EVENT and "Night Owls" in notification.title
    assert set(planning.recipient_ids(notification)) == {s.id for s in subscriptions.values()}
    kinds = [row.kind for row in db.session.query(OutboxItem).filter(OutboxItem.done_at.is_(None))]
    assert OutboxKind.NOTIFY in kinds and OutboxKind.REMINDERS_CHANGED in kinds  # the auto-follower's reminders

    # A retried row finds the work done: nobody is told twice.
    assert community_follows.tell_followers(event.id) is None
    assert db.session.query(Notification).filter_by(event_id=event.id).count() == 1


def test_the_told_follower_gets_a_one_tap_link_and_the_auto_follower_none(community, domain_app):
    event = new_event(community)
    notification_id = community_follows.tell_followers(event.id)
    [(first, last)] = planning.plan_notification(notification_id, 100)
    cipher = FieldCipher.from_setting(domain_app.config["ENCRYPTION_KEYS"], domain_app.config["SECRET_KEY"])
    sends = {send.destination.email: send.message for send in planning.prepare_batch(notification_id, first, last, cipher).sends}

    told, auto = sends["told@example.com"], sends["auto@example.com"]
    assert "Follow this event (one tap): http://soonish.test/s/follow/" in told.text
    assert "/s/follow/" not in auto.text and "You follow this event" in auto.text
    for message in (told, auto):
        assert message.follow_event_id is None  # a mail's is the link; the button is chat's
        assert "You get this because you follow Night Owls" in message.text
        assert message.unsubscribe_url.startswith("http://soonish.test/c/follows/")
    # One ledger row per follower and target, however often the batch is planned.
    planning.prepare_batch(notification_id, first, last, cipher)
    assert db.session.query(Delivery).filter_by(notification_id=notification_id).count() == 2


def test_an_event_cancelled_within_the_window_tells_nobody(community):
    event = new_event(community)
    event.status = EventStatus.CANCELLED
    db.session.commit()

    assert community_follows.tell_followers(event.id) is None
    assert by_email(event) == {}
    assert db.session.query(Notification).filter_by(event_id=event.id).count() == 0


def test_an_event_hidden_within_the_window_tells_nobody(community):
    event = new_event(community)
    event.visibility = Visibility.PRIVATE
    db.session.commit()
    assert community_follows.tell_followers(event.id) is None and by_email(event) == {}


def test_a_follower_already_following_the_event_keeps_their_own_subscription(community):
    event = new_event(community)
    told = db.session.query(User).filter_by(email="told@example.com").one()
    db.session.add(Subscription(event=event, user=told, reminder_offsets=[600]))
    db.session.commit()
    community_follows.tell_followers(event.id)
    mine = by_email(event)["told@example.com"]
    assert mine.status == SubscriptionStatus.ACTIVE and mine.reminder_offsets == [600] and mine.community_follow_id is None


def test_the_digest_goes_once_on_its_day_and_not_when_nothing_is_coming(community):
    today = utcnow().date()
    community.digest_weekday = today.weekday()
    db.session.commit()
    assert community_follows.digest_community_ids(today) == [community.id]
    assert community_follows.digest_community_ids(today, after=community.id) == []  # a later round's resumption
    assert community_follows.send_digest(community.id, today) == 0  # nothing coming: nothing sent

    new_event(community, days=2)
    assert community_follows.send_digest(community.id, today) == 1  # the one digest follower
    assert community_follows.send_digest(community.id, today) == 0  # a rerun of the day's round mails nobody twice
    [row] = db.session.query(OutboxItem).filter_by(kind=OutboxKind.ONE_OFF_MAIL).all()
    assert row.payload["mail"] == "community_digest"
    [(_, mail)] = outbox.mails(outbox.claim())
    assert mail.address == "digest@example.com" and "Owl walk" in mail.message.text

    other_day = today + timedelta(days=1)
    assert community_follows.digest_community_ids(other_day) == []  # not the community's day
    community.archived_at = utcnow()
    db.session.commit()
    assert community_follows.digest_community_ids(today) == []  # an archived community sends none
