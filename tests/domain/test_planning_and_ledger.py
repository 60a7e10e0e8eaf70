"""Recipient planning and the deliveries ledger, with a database and no Temporal."""
from datetime import timedelta

from sqlalchemy import update

from soonish.domain.delivery import Failed, RetryAfter, Sent, ledger, planning
from soonish.models import (
    ChatIdentity, Delivery, DeliveryStatus, Integration, Subscription, SubscriptionSelector, SubscriptionStatus,
    User, db, utcnow,
)
from soonish.services import notifications


def statuses() -> dict[str, DeliveryStatus]:
    return {d.target: d.status for d in db.session.query(Delivery)}


def test_a_batch_plans_one_send_per_target_and_a_rerun_plans_only_what_is_pending(
    event, follow, announcement, cipher
):
    ann = follow("ann@example.com")
    bob = follow("bob@example.com")
    hook = Integration(user=bob.user, name="hook", url_mask="json://hooks.example",
                       apprise_url_encrypted=cipher.encrypt("json://hooks.example/in"))
    bob.selectors = [SubscriptionSelector(integration=hook)]  # a selector: no mail to bob's address
    db.session.commit()

    plan = planning.prepare_batch(announcement.id, ann.id, bob.id, cipher)
    by_target = {s.destination.email or s.destination.apprise_url: s for s in plan.sends}
    assert set(by_target) == {"ann@example.com", "json://hooks.example/in"}
    mail = by_target["ann@example.com"]
    assert mail.channel == "email" and mail.message.delivery_key == ledger.delivery_key(mail.delivery_id)
    assert "http://soonish.test/" in mail.message.unsubscribe_url  # a one-click link of ann's own
    assert by_target["json://hooks.example/in"].message.html is None  # webhooks get the short form
    assert plan.already_sent == 0 and plan.due is None

    ledger.record([ledger.SendOutcome(mail.delivery_id, "email", Sent())], final_attempt=False)
    rerun = planning.prepare_batch(announcement.id, ann.id, bob.id, cipher)
    assert [s.destination.apprise_url for s in rerun.sends] == ["json://hooks.example/in"]
    assert rerun.already_sent == 1
    assert db.session.query(Delivery).count() == 2  # the ledger's key held: no second row


def test_an_attempt_taken_over_sends_nothing_the_newer_attempt_of_its_batch_took(event, follow, announcement, cipher):
    """Temporal hands a batch whose heartbeats stopped reaching it to a new attempt while the old
    one may still run: each attempt's rows are fenced to it, and the old one's next group finds
    them gone."""
    ann, bob = follow("ann@example.com"), follow("bob@example.com")
    old, new, later = 1_000, 2_000, 3_000  # attempts' fences: when Temporal scheduled each
    sends = planning.prepare_batch(announcement.id, ann.id, bob.id, cipher, fence=old).sends
    ids = [send.delivery_id for send in sends]
    assert len(ids) == 2

    assert len(planning.prepare_batch(announcement.id, ann.id, bob.id, cipher, fence=new).sends) == 2
    assert ledger.hold_for_sending(ids, old) == set()  # the old attempt's next group: nothing is its to send
    assert planning.prepare_batch(announcement.id, ann.id, bob.id, cipher, fence=old).sends == []

    ledger.record([ledger.SendOutcome(ids[0], "email", Sent())], final_attempt=False)
    rerun = planning.prepare_batch(announcement.id, ann.id, bob.id, cipher, fence=later)
    assert [send.delivery_id for send in rerun.sends] == [ids[1]] and rerun.already_sent == 1
    assert ledger.hold_for_sending(ids, later) == {ids[1]}  # a sent row is no one's to send


def test_a_group_in_flight_is_left_to_its_attempt_until_recorded_or_its_hold_lapses(event, follow, announcement, cipher):
    """The takeover of a live attempt: the group it is sending is held, so the newer attempt
    sends none of it and counts it to try again; once recorded it is sent for good, and a dead
    attempt's hold lapses."""
    ann, _, cat = follow("ann@example.com"), follow("bob@example.com"), follow("cat@example.com")
    old, new, later = 1_000, 2_000, 3_000
    ids = [send.delivery_id for send in planning.prepare_batch(announcement.id, ann.id, cat.id, cipher, fence=old).sends]
    in_flight = ids[:2]
    assert ledger.hold_for_sending(in_flight, old) == set(in_flight)

    takeover = planning.prepare_batch(announcement.id, ann.id, cat.id, cipher, fence=new)
    assert [send.delivery_id for send in takeover.sends] == [ids[2]] and takeover.held_elsewhere == 2
    assert ledger.hold_for_sending(in_flight, old, renewing=True) == set(in_flight)  # still the old one's

    # The old attempt records its group: one sent, one failed for now (anyone's to retry, held no more).
    ledger.record([ledger.SendOutcome(ids[0], "email", Sent()),
                   ledger.SendOutcome(ids[1], "email", Failed("mail server answered 451"))], final_attempt=False)
    assert ledger.hold_for_sending(in_flight, old, renewing=True) == set()  # a recorded group renews nothing
    retry = planning.prepare_batch(announcement.id, ann.id, cat.id, cipher, fence=later)
    assert sorted(send.delivery_id for send in retry.sends) == sorted(ids[1:]) and retry.held_elsewhere == 0

    # An attempt that died mid-group: its hold lapses and the next attempt takes the group.
    assert ledger.hold_for_sending([ids[1]], later) == {ids[1]}
    db.session.execute(update(Delivery).where(Delivery.id == ids[1]).values(
        sending_until=utcnow() - timedelta(seconds=1)))
    db.session.commit()
    last = planning.prepare_batch(announcement.id, ann.id, cat.id, cipher, fence=later + 1)
    assert sorted(send.delivery_id for send in last.sends) == sorted(ids[1:]) and last.held_elsewhere == 0


def test_recording_a_group_holds_the_next_one_in_the_same_transaction(event, follow, announcement, cipher):
    """A group's record also holds the group after it (one write, not two): what it holds is
    what a hold of its own would have, and a newer attempt leaves it to this one."""
    ann, _, cat = follow("ann@example.com"), follow("bob@example.com"), follow("cat@example.com")
    old, new = 1_000, 2_000
    ids = [send.delivery_id for send in planning.prepare_batch(announcement.id, ann.id, cat.id, cipher, fence=old).sends]
    assert ledger.hold_for_sending(ids[:1], old) == {ids[0]}

    held = ledger.record([ledger.SendOutcome(ids[0], "email", Sent())], final_attempt=False, hold_next=ids[1:], fence=old)
    assert held == set(ids[1:])
    takeover = planning.prepare_batch(announcement.id, ann.id, cat.id, cipher, fence=new)
    assert takeover.sends == [] and takeover.held_elsewhere == 2 and takeover.already_sent == 1

    # Now the newer attempt's (the old one's hold lapsed): the old attempt's record holds none of them.
    db.session.execute(update(Delivery).where(Delivery.id.in_(ids[1:])).values(
        sending_until=utcnow() - timedelta(seconds=1)))
    db.session.commit()
    assert len(planning.prepare_batch(announcement.id, ann.id, cat.id, cipher, fence=new).sends) == 2
    assert ledger.record([], final_attempt=False, hold_next=ids[1:], fence=old) == set()


def test_a_target_gone_since_its_row_was_written_is_skipped(event, follow, announcement, cipher):
    ann = follow("ann@example.com")
    planning.prepare_batch(announcement.id, ann.id, ann.id, cipher)
    subscription = db.session.get(Subscription, ann.id)
    subscription.status = SubscriptionStatus.UNSUBSCRIBED
    db.session.commit()
    assert planning.prepare_batch(announcement.id, ann.id, ann.id, cipher).sends == []
    assert statuses() == {"email:ann@example.com": DeliveryStatus.SKIPPED}


def test_the_ledger_records_sent_retrying_and_given_up(event, follow, announcement, cipher):
    for name in ("a", "b", "c", "d"):
        follow(f"{name}@example.com")
    ids = planning.recipient_ids(announcement)
    (first, last), = planning.batch_ranges(ids, 10)
    sends = planning.prepare_batch(announcement.id, first, last, cipher).sends
    outcomes = [
        ledger.SendOutcome(sends[0].delivery_id, "email", Sent()),
        ledger.SendOutcome(sends[1].delivery_id, "email", Failed("mail server answered 451")),
        ledger.SendOutcome(sends[2].delivery_id, "email", Failed("the mail server refused d@", permanent=True)),
        ledger.SendOutcome(sends[3].delivery_id, "email", RetryAfter(30, "x answered HTTP 429")),
    ]
    ledger.record(outcomes, final_attempt=False)
    rows = {d.id: d for d in db.session.query(Delivery)}
    assert [rows[o.delivery_id].status for o in outcomes] == [
        DeliveryStatus.SENT, DeliveryStatus.PENDING, DeliveryStatus.FAILED, DeliveryStatus.PENDING,
    ]
    assert rows[sends[3].delivery_id].last_error == "x answered HTTP 429 (retry after 30s)"
    assert rows[sends[0].delivery_id].sent_at is not None and rows[sends[0].delivery_id].last_error is None
    # On the last attempt, what still fails has failed for good.
    ledger.record(outcomes[1:2], final_attempt=True)
    db.session.expire_all()
    assert db.session.get(Delivery, sends[1].delivery_id).status == DeliveryStatus.FAILED
    assert db.session.get(Delivery, sends[1].delivery_id).attempts == 2


def test_batches_are_id_ranges_of_at_most_the_batch_size():
    assert planning.batch_ranges([1, 2, 5, 9, 10], 2) == [(1, 2), (5, 9), (10, 10)]
    assert planning.batch_ranges([], 2) == []


def test_a_welcome_offers_chat_only_to_readers_outside_chat(domain_app, event, cipher):
    domain_app.config.update(SLACK_BOT_TOKEN="xoxb-test", DISCORD_BOT_TOKEN="discord-test-token")
    user = User(email="ann@example.com")
    slack = ChatIdentity(platform="slack", workspace_id="T1", external_user_id="U1", user=user)
    discord = ChatIdentity(platform="discord", workspace_id="", external_user_id="100000000000000001", user=user)
    mail = Integration(user=user, name="mail", url_mask="mailto://ann@example.com", email_address="ann@example.com",
                       email_verified_at=utcnow())
    subscription = Subscription(event=event, user=user, selectors=[
        SubscriptionSelector(chat_identity=slack), SubscriptionSelector(chat_identity=discord),
        SubscriptionSelector(integration=mail)])
    db.session.add(subscription)
    db.session.flush()
    welcome = notifications.welcome(subscription)
    db.session.commit()

    plan = planning.prepare_batch(welcome.id, subscription.id, subscription.id, cipher)
    by_channel = {send.channel: send.message for send in plan.sends}
    assert set(by_channel) == {"slack", "discord", "email"}
    offer = "Rather get them in Slack or Discord? Type /soonish subscribe launch there."
    assert offer in by_channel["email"].text and offer in by_channel["email"].html
    # Each chat's welcome speaks of where it is: nobody subscribed there is sent there.
    for platform in ("slack", "discord"):
        assert "You'll get the organizer's updates here" in by_channel[platform].short
        assert "Rather get them" not in by_channel[platform].short


def test_a_failure_recorded_after_its_recipient_was_erased_keeps_no_address(event, follow, announcement, cipher):
    """The send was in flight when the account was deleted: the erasure tombstoned the row
    first, and the failure it records afterwards must not bring the address back."""
    ann = follow("ann@example.com")
    (send,) = planning.prepare_batch(announcement.id, ann.id, ann.id, cipher).sends
    db.session.get(Delivery, send.delivery_id).target = "erased:email:0123456789abcdef"
    db.session.commit()
    ledger.record([ledger.SendOutcome(send.delivery_id, "email",
                                      Failed("the mail server refused ann@example.com", permanent=True))],
                  final_attempt=False)
    db.session.expire_all()
    assert db.session.get(Delivery, send.delivery_id).last_error == "the mail server refused [erased address]"
