"""Mail reputation with a database and real SMTP, no Temporal: return paths (VERP), the
suppression list and its rules, `soonish mail-in` taking DSNs, the mail server's own 5xx at RCPT,
and DKIM signatures checked with dkimpy's verifier."""
import asyncio
import base64
import smtplib
import time
from datetime import timedelta
from pathlib import Path

import dkim
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from soonish.crypto import FieldCipher
from soonish.domain.delivery import Courier, Destination, MailSettings, Message, ledger, planning
from soonish.domain.delivery.pacing import BudgetSettings, Pacer
from soonish.domain import mail_reputation
from soonish.domain.mail_reputation import Bounce, Source
from soonish.domain.delivery.mail_signing import DkimKey
from soonish.mail_in.listener import listener
from soonish.models import (
    BounceKind, Delivery, DeliveryStatus, Event, MailBounce, Notification, NotificationKind, Subscription,
    SubscriptionStatus, SuppressedAddress, User, db, utcnow,
)

from loopback.sinks import PATIENCE, FakeMta, free_port, postfix_dsn

BOUNCE_DOMAIN = "bounces.soonish.test"
CORPUS = Path(__file__).resolve().parent.parent / "bounces"


@pytest.fixture
def app(domain_app):
    domain_app.config["BOUNCE_DOMAIN"] = BOUNCE_DOMAIN
    return domain_app


@pytest.fixture
def secret(app) -> str:
    return app.config["SECRET_KEY"]






@pytest.fixture
def mail_in(app):
    port = free_port()
    controller = listener(app, "127.0.0.1", port)
    controller.start()
    yield port
    controller.stop()


def planned(notification: Notification, cipher: FieldCipher) -> list[planning.PlannedSend]:
    (first, last), = planning.batch_ranges(planning.recipient_ids(notification), 100)
    return planning.prepare_batch(notification.id, first, last, cipher).sends


def hard(address: str, delivery_id: int | None = None, source: str = Source.MAIL_IN) -> Bounce:
    return Bounce(address, BounceKind.HARD, "5.1.1", "mailbox does not exist", source, delivery_id)


# Return paths ------------------------------------------------------------------------------


def test_a_return_path_names_its_delivery_and_is_signed_for_its_recipient(secret):
    path = mail_reputation.return_path(secret, BOUNCE_DOMAIN, "soonish-41", "Ann@Example.com")
    local, _, domain = path.partition("@")
    assert domain == BOUNCE_DOMAIN and local.startswith("bounces+d41-") and len(local) <= 64
    read = mail_reputation.read_return_path(path.upper(), BOUNCE_DOMAIN)  # some relays change case
    assert read.delivery_id == 41
    assert mail_reputation.signed_for(secret, read, "ann@example.com")
    assert not mail_reputation.signed_for(secret, read, "bob@example.com")
    assert not mail_reputation.signed_for("another-secret" * 4, read, "ann@example.com")
    # Another delivery's number with this signature: forged.
    forged = mail_reputation.read_return_path(path.replace("d41-", "d42-"), BOUNCE_DOMAIN)
    assert not mail_reputation.signed_for(secret, forged, "ann@example.com")
    assert mail_reputation.read_return_path(path, "elsewhere.test") is None
    assert mail_reputation.read_return_path("ann@example.com", BOUNCE_DOMAIN) is None
    # Mail outside the ledger (a confirm link) gets a path of its own kind.
    one_off = mail_reputation.return_path(secret, BOUNCE_DOMAIN, "soonish-confirm-3-outbox-9", "ann@example.com")
    assert mail_reputation.read_return_path(one_off, BOUNCE_DOMAIN).delivery_id is None


# The suppression list and planning ----------------------------------------------------------


def test_a_hard_bounce_suppresses_at_once_and_the_next_broadcast_skips_the_address_saying_why(
    app, event, follow, announcement, cipher
):
    follow("ann@example.com")
    follow("bob@example.com")
    assert mail_reputation.record([hard("ANN@example.com")]).suppressed == 1
    sends = planned(announcement, cipher)
    assert [s.destination.email for s in sends] == ["bob@example.com"]
    row = db.session.query(Delivery).filter_by(target="email:ann@example.com").one()
    assert row.status == DeliveryStatus.SUPPRESSED
    assert row.last_error == f"this address bounced on {utcnow().day} {utcnow():%b}: mailbox does not exist"
    stored = db.session.query(SuppressedAddress).one()
    assert stored.masked == "a•••@example.com" and "ann" not in stored.address_tag  # no address kept
    # A rerun plans nothing more and the row stays as it is.
    assert [s.destination.email for s in planned(announcement, cipher)] == ["bob@example.com"]
    # A second bounce changes nothing: one row, the first reason.
    assert mail_reputation.record([hard("ann@example.com")]).suppressed == 0
    assert db.session.query(SuppressedAddress).count() == 1


def test_soft_bounces_suppress_at_the_third_within_seven_days(app):
    def soft():
        return Bounce("full@example.com", BounceKind.SOFT, "4.2.2", "the mailbox is full", Source.MAIL_IN)

    old = MailBounce(address_tag=mail_reputation.address_key("full@example.com"), kind=BounceKind.SOFT,
                     status="4.2.2", reason="", source=Source.MAIL_IN, received_at=utcnow() - timedelta(days=8))
    db.session.add(old)
    db.session.commit()
    assert mail_reputation.record([soft()]).suppressed == 0
    assert mail_reputation.record([soft()]).suppressed == 0  # two in the window (the one 8 days old is out)
    assert mail_reputation.suppressed(["full@example.com"]) == {}
    assert mail_reputation.record([soft()]).suppressed == 1
    assert "bounced 3 times in 7 days" in mail_reputation.suppressed(["full@example.com"])["full@example.com"]


def test_a_complaint_suppresses_and_ends_the_persons_follows_of_that_organizers_events_only(
    app, event, follow, announcement, cipher
):
    ann = follow("ann@example.com")
    other = Event(slug="other", organizer=User(email="someone-else@example.com"), title="Other",
                  starts_at=event.starts_at, timezone="UTC")
    second = Event(slug="second", organizer=event.organizer, title="Second", starts_at=event.starts_at, timezone="UTC")
    db.session.add_all([Subscription(event=other, user=ann.user), Subscription(event=second, user=ann.user)])
    db.session.commit()
    [send] = planned(announcement, cipher)

    recorded = mail_reputation.record([Bounce("ann@example.com", BounceKind.COMPLAINT, "", "reported as spam",
                                              Source.MAIL_IN, send.delivery_id)])
    # Their reminder schedules no longer count her: the caller writes that to the outbox.
    assert sorted(e.slug for e in recorded.unfollowed) == ["launch", "second"]
    statuses = {s.event.slug: s.status for s in db.session.query(Subscription)}
    assert statuses == {"launch": SubscriptionStatus.UNSUBSCRIBED, "second": SubscriptionStatus.UNSUBSCRIBED,
                        "other": SubscriptionStatus.ACTIVE}
    assert "reported our mail as spam" in mail_reputation.suppressed(["ann@example.com"])["ann@example.com"]
    assert db.session.query(MailBounce).one().organizer_id == event.organizer_id


def test_lifting_mails_the_address_again_once_and_only_for_the_entry_it_names(app):
    mail_reputation.record([hard("ann@example.com")])
    mark = mail_reputation.suppression_mark(mail_reputation.suppression_of("ann@example.com"))
    assert not mail_reputation.lift("bob@example.com", mark)  # another address
    assert mail_reputation.lift("ann@example.com", mark)
    assert mail_reputation.suppressed(["ann@example.com"]) == {}
    assert not mail_reputation.lift("ann@example.com", mark)
    # Suppressed again later (SQLite may even give it the same id): the old mark is not for it.
    mail_reputation.record([hard("ann@example.com")])
    assert not mail_reputation.lift("ann@example.com", mark)
    assert "ann@example.com" in mail_reputation.suppressed(["ann@example.com"])


# The sender's standing ------------------------------------------------------------------------


def mailed(notification: Notification, count: int, status: DeliveryStatus = DeliveryStatus.SENT) -> list[int]:
    """``count`` mails of ``notification`` in the ledger, each to a follower of its own."""
    db.session.flush()  # its id names the addresses
    addresses = [f"{status.value}-{notification.id}-{i}@example.com" for i in range(count)]
    rows = [Delivery(notification=notification, subscription=Subscription(event=notification.event, user=User(email=a)),
                     target=f"email:{a}", channel="email", status=status) for a in addresses]
    db.session.add_all(rows)
    db.session.commit()
    return [row.id for row in rows]


def test_an_organizers_standing_counts_their_recent_mail_its_hard_bounces_and_complaints(app, event, announcement):
    ids = mailed(announcement, 38) + mailed(announcement, 2, DeliveryStatus.FAILED)
    db.session.add(Delivery(notification=announcement, subscription=Subscription(event=event, user=User(email="q@x.org")),
                            target="email:q@x.org", channel="email", status=DeliveryStatus.PENDING))  # not mailed yet
    old = Notification(event=event, kind=NotificationKind.ANNOUNCEMENT, title="Old", created_at=utcnow() - timedelta(days=40))
    db.session.add(old)
    mailed(old, 10)  # out of the window
    addresses = [mail_reputation.delivery_address(i) for i in ids]
    mail_reputation.record([hard(addresses[0], ids[0]), hard(addresses[1], ids[1]),
                            Bounce(addresses[2], BounceKind.SOFT, "4.2.2", "full", Source.MAIL_IN, ids[2]),
                            Bounce(addresses[3], BounceKind.COMPLAINT, "", "spam", Source.MAIL_IN, ids[3])])
    # Another organizer's mail and bounces are theirs.
    other = Event(slug="other", organizer=User(email="other@example.com"), title="Other", starts_at=event.starts_at,
                  timezone="UTC")
    theirs = Notification(event=other, kind=NotificationKind.ANNOUNCEMENT, title="Theirs")
    db.session.add(theirs)
    [their_id] = mailed(theirs, 1)
    mail_reputation.record([hard(mail_reputation.delivery_address(their_id), their_id)])
    db.session.commit()

    now = utcnow()
    mine = mail_reputation.standings(now, event.organizer_id)
    assert mine == {event.organizer_id: mail_reputation.SenderStanding(mailed=40, bounced=2, complaints=1)}
    standing = mine[event.organizer_id]
    assert (standing.bounce_rate, standing.complaint_rate) == (0.05, 0.025)
    assert standing.at_risk  # 2.5% complaints: eight times the 0.3% limit
    everyone = mail_reputation.standings(now)
    assert everyone[other.organizer_id] == mail_reputation.SenderStanding(mailed=1, bounced=1)
    assert mail_reputation.overall(everyone.values()) == mail_reputation.SenderStanding(41, 3, 1)
    assert not mail_reputation.SenderStanding(1000, 50, 3).at_risk  # at both limits, not above
    assert mail_reputation.SenderStanding().bounce_rate == 0.0


# Bounces in: mail-in, and the server's own 5xx ---------------------------------------------


def send_report(port: int, rcpt: str, report: bytes) -> None:
    with smtplib.SMTP("127.0.0.1", port, timeout=10) as smtp:
        smtp.sendmail("", [rcpt], report)


def test_mail_in_records_a_dsn_for_the_delivery_its_return_path_names(
    app, event, follow, announcement, cipher, secret, mail_in
):
    follow("ann@example.com")
    [send] = planned(announcement, cipher)
    ledger.record([ledger.SendOutcome(send.delivery_id, "email", ledger.Sent())], final_attempt=False)
    path = mail_reputation.return_path(secret, BOUNCE_DOMAIN, send.message.delivery_key, "ann@example.com")
    send_report(mail_in, path, postfix_dsn(path, "ann@example.com", b"Subject: Doors open\r\n\r\nAt 7"))

    db.session.expire_all()
    row = db.session.get(Delivery, send.delivery_id)
    assert row.status == DeliveryStatus.FAILED and row.last_error.startswith("bounced: mailbox does not exist")
    bounce = db.session.query(MailBounce).one()
    assert (bounce.kind, bounce.status, bounce.notification_id) == (BounceKind.HARD, "5.1.1", announcement.id)
    assert "ann@example.com" in mail_reputation.suppressed(["ann@example.com"])


def test_mail_in_ignores_a_forged_return_path_and_refuses_other_recipients(app, event, follow, secret, mail_in):
    follow("ann@example.com")
    path = mail_reputation.return_path(secret, BOUNCE_DOMAIN, "soonish-1", "ann@example.com")
    forged = path.split("-")[0] + "-" + "a" * 16 + "@" + BOUNCE_DOMAIN
    send_report(mail_in, forged, postfix_dsn(forged, "ann@example.com", b"Subject: x\r\n\r\nx"))
    # A real corpus report, sent to a path made for another address, is ignored too.
    other = mail_reputation.return_path(secret, BOUNCE_DOMAIN, "soonish-confirm-1-x", "bob@example.com")
    send_report(mail_in, other, (CORPUS / "gmail_no_such_user.eml").read_bytes().replace(b"\n", b"\r\n"))
    assert db.session.query(MailBounce).count() == 0
    assert db.session.query(SuppressedAddress).count() == 0
    with pytest.raises(smtplib.SMTPRecipientsRefused):
        send_report(mail_in, f"postmaster@{BOUNCE_DOMAIN}", b"Subject: hi\r\n\r\nhello")


def test_a_feedback_loop_complaint_without_a_return_path_is_found_by_its_message_id(
    app, event, follow, announcement, cipher, mail_in
):
    """Microsoft JMRP's format (tests/bounces/microsoft_jmrp_complaint.eml), mailed to the address
    registered with the feedback loop: its copy of the mail kept our Message-ID and
    X-Soonish-Delivery but no return path."""
    complainer = follow("tired.of.updates@outlook.com")
    other = Event(slug="other", organizer=User(email="someone-else@example.com"), title="Other",
                  starts_at=event.starts_at, timezone="UTC")
    db.session.add(Subscription(event=other, user=complainer.user))
    db.session.commit()
    [send] = planned(announcement, cipher)
    ledger.record([ledger.SendOutcome(send.delivery_id, "email", ledger.Sent())], final_attempt=False)
    report = (CORPUS / "microsoft_jmrp_complaint.eml").read_bytes().replace(b"\n", b"\r\n")

    # The same report naming that delivery for someone it was not sent to: a key is a guessable
    # number, so it counts only with the very address the delivery went to.
    forged = report.replace(b"soonish-58", f"soonish-{send.delivery_id}".encode()) \
        .replace(b"<tired.of.updates@outlook.com>", b"<victim@outlook.com>")
    send_report(mail_in, f"feedback@{BOUNCE_DOMAIN}", forged)
    assert db.session.query(MailBounce).count() == 0

    send_report(mail_in, f"feedback@{BOUNCE_DOMAIN}", report.replace(b"soonish-58", f"soonish-{send.delivery_id}".encode()))
    db.session.expire_all()
    bounce = db.session.query(MailBounce).one()
    assert (bounce.kind, bounce.delivery_id, bounce.organizer_id) == (BounceKind.COMPLAINT, send.delivery_id,
                                                                      event.organizer_id)
    assert "reported our mail as spam" in mail_reputation.suppressed([complainer.user.email])[complainer.user.email]
    # Their follows of that organizer's events end; another organizer's stays.
    statuses = {s.event.slug: s.status for s in db.session.query(Subscription)}
    assert statuses == {event.slug: SubscriptionStatus.UNSUBSCRIBED, "other": SubscriptionStatus.ACTIVE}
    assert db.session.get(Delivery, send.delivery_id).last_error == "reported as spam"


def test_a_refusal_at_rcpt_is_a_hard_bounce_and_the_mail_carries_its_return_path(
    app, event, follow, announcement, cipher, secret
):
    follow("ann@example.com")
    follow("dead@example.com")
    mta = FakeMta(refused=["dead@example.com"]).start()
    try:
        settings = MailSettings(sender="Soonish <no-reply@soonish.test>", host="127.0.0.1", port=mta.port,
                                starttls=False, bounce_domain=BOUNCE_DOMAIN, return_path_secret=secret)

        async def send_all():
            async with Courier(settings, allow_private=True) as courier:
                return [await courier.deliver(s.destination, s.message) for s in sends]

        sends = planned(announcement, cipher)
        outcomes = asyncio.run(send_all())
        ledger.record([ledger.SendOutcome(s.delivery_id, "email", o) for s, o in zip(sends, outcomes)], False)
        [received] = mta.wait_for(1)
        assert received["X-Envelope-To"] == "ann@example.com"
        path = mail_reputation.read_return_path(received["X-Envelope-From"], BOUNCE_DOMAIN)
        assert mail_reputation.signed_for(secret, path, "ann@example.com")
    finally:
        mta.stop()
    db.session.expire_all()
    bounce = db.session.query(MailBounce).one()
    assert (bounce.kind, bounce.status, bounce.source) == (BounceKind.HARD, "5.1.1", Source.SMTP)
    assert set(mail_reputation.suppressed(["dead@example.com", "ann@example.com"])) == {"dead@example.com"}
    dead = db.session.query(Delivery).filter_by(target="email:dead@example.com").one()
    assert dead.status == DeliveryStatus.FAILED


def test_a_providers_try_later_holds_that_providers_budget_and_not_the_servers(app):
    mta = FakeMta(deferred=["ann@gmail.com"]).start()
    try:
        settings = MailSettings(sender="Soonish <no-reply@soonish.test>", host="127.0.0.1", port=mta.port,
                                starttls=False)
        pacer = Pacer(BudgetSettings(smtp_temporary_wait=2.0))

        async def send_both():
            async with Courier(settings, allow_private=True, pacer=pacer) as courier:
                message = Message(delivery_key="soonish-1", title="Hi", text="Hello", short="")
                gmail = asyncio.create_task(courier.deliver(Destination(email="ann@gmail.com"), message))
                # Until the MTA has deferred it: Gmail's budget is then held for two seconds.
                deadline = time.monotonic() + 10 * PATIENCE
                while await pacer._local.holds.until(["mailbox:gmail"]) <= time.time() and time.monotonic() < deadline:
                    await asyncio.sleep(0.02)
                held = {key: await pacer._local.holds.until([key]) - time.time()
                        for key in ("mailbox:gmail", "smtp:127.0.0.1")}
                began = time.monotonic()
                outlook = await courier.deliver(Destination(email="bob@outlook.com"), message)
                return held, time.monotonic() - began, outlook, await gmail

        held, outlook_seconds, outlook, gmail = asyncio.run(send_both())
        assert held["mailbox:gmail"] > 0 and held["smtp:127.0.0.1"] <= 0
        assert isinstance(outlook, ledger.Sent) and outlook_seconds < 1.5  # Outlook did not wait for Gmail
        assert isinstance(gmail, ledger.Sent)  # sent once the hold ended
        assert [m["X-Envelope-To"] for m in mta.wait_for(2)] == ["bob@outlook.com", "ann@gmail.com"]
    finally:
        mta.stop()


def test_addresses_belong_to_their_mailbox_provider():
    assert mail_reputation.mailbox_provider("Ann@GoogleMail.com") == "gmail"
    assert mail_reputation.mailbox_provider("bob@hotmail.co.uk") == "microsoft"
    assert mail_reputation.mailbox_provider("cy@aol.com") == "yahoo"
    assert mail_reputation.mailbox_provider("dee@me.com") == "icloud"
    assert mail_reputation.mailbox_provider("eve@example.org") is None


# DKIM ----------------------------------------------------------------------------------------


def test_a_signed_mail_verifies_against_the_published_key(smtp_sink):
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    public = key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    published = b"v=DKIM1; k=rsa; p=" + base64.b64encode(public)  # the TXT record README tells to publish
    settings = MailSettings(sender="Soonish <no-reply@soonish.test>", host="127.0.0.1", port=smtp_sink.port,
                            starttls=False, dkim=DkimKey("s2026", "soonish.test", pem))
    message = Message(delivery_key="soonish-7", title="Doors open – café at 7", text="See you at 7.\n" * 3,
                      short="", html="<p>See you at 7.</p>", unsubscribe_url="http://soonish.test/u/x")

    async def send():
        async with Courier(settings, allow_private=True) as courier:
            return await courier.deliver(Destination(email="ann@example.com"), message)

    smtp_sink.clear()
    assert isinstance(asyncio.run(send()), ledger.Sent)
    [received] = smtp_sink.wait_for(1)
    raw = smtp_sink.raw[-1]
    signature = received["DKIM-Signature"]
    assert "c=relaxed/relaxed" in signature and "d=soonish.test" in signature and "s=s2026" in signature
    assert "list-unsubscribe-post" in signature.lower()  # RFC 8058: one-click needs it signed

    def dns(name, timeout=5):
        assert name == b"s2026._domainkey.soonish.test."
        return published

    assert dkim.verify(raw, dnsfunc=dns)
    assert not dkim.verify(raw.replace(b"See you at 7.", b"See you at 8.", 1), dnsfunc=dns)
