"""Mail reputation end to end: a broadcast through the real worker to a fake MTA that refuses some
recipients at RCPT (550 5.1.1) and mails DSNs back for others to `soonish mail-in`; the next
broadcast sends nothing to any of them, and the organizer sees why."""
import re
import time
from collections import Counter

import pytest

from soonish.domain import mail_reputation
from soonish.domain.mail_reputation import Bounce, Source
from soonish.links import LinkPurpose, sign
from soonish.mail_in.listener import listener
from soonish.services import mail_standing
from soonish.models import (
    BounceKind, Delivery, DeliveryStatus, MailBounce, Notification, NotificationKind, OutboxItem, OutboxKind, Subscription, db, utcnow,
)

from .api_helpers import announce, create_event, reports
from .conftest import csrf_token
from .test_account_credentials import expired_link
from .test_account_erasure import LINK
from loopback.seeding import seed_subscribers
from loopback.sinks import FakeMta, free_port, wait_until

BOUNCE_DOMAIN = "bounces.soonish.test"
FOLLOWERS = 50
REFUSED = {f"follower{i}@example.com" for i in (3, 17)}
BOUNCED = {f"follower{i}@example.com" for i in (8, 41)}


@pytest.fixture
def mail_in_port():
    return free_port()


@pytest.fixture
def dead_mailboxes() -> tuple[set[str], set[str]]:
    """The addresses the fake MTA refuses at RCPT, and those it bounces by DSN."""
    return REFUSED, BOUNCED


@pytest.fixture
def fake_mta(mail_in_port, dead_mailboxes):
    refused, bounced = dead_mailboxes
    mta = FakeMta(refused=refused, bounced=bounced, mail_in=("127.0.0.1", mail_in_port)).start()
    yield mta
    mta.stop()


@pytest.fixture
def app_config(app_config, fake_mta):
    return {**app_config, "SMTP_PORT": fake_mta.port, "BOUNCE_DOMAIN": BOUNCE_DOMAIN}


@pytest.fixture
def mail_in(app, mail_in_port):
    controller = listener(app, "127.0.0.1", mail_in_port)
    controller.start()
    yield
    controller.stop()


@pytest.fixture
def organizer(make_user, bearer):
    return bearer(make_user("host@example.com"))


def titled(mta, title: str) -> Counter:
    return Counter(m["X-Envelope-To"] for m in mta.messages if m["Subject"] == title)


def settled(client, organizer, event_id, total: int) -> dict:
    def counts():
        report = reports(client, organizer, event_id)[0]
        return report["counts"] if report["counts"]["pending"] == 0 and sum(report["counts"].values()) == total else None

    wait_until(counts, timeout=60, message="the broadcast settled")
    return counts()


def test_bounces_recorded_by_one_broadcast_keep_the_next_from_mailing_those_addresses(
    app, client, organizer, worker, fake_mta, mail_in
):
    event = create_event(client, organizer)
    seed_subscribers(app, event["id"], FOLLOWERS)

    announce(client, organizer, event["id"], "First news", "Hello.")
    settled(client, organizer, event["id"], FOLLOWERS)
    wait_until(lambda: fake_mta.dsns_sent == len(BOUNCED), message="the DSNs mailed back")
    with app.app_context():
        wait_until(lambda: db.session.query(MailBounce).count() == len(REFUSED | BOUNCED), message="bounces recorded")
        bounced_rows = {d.target.removeprefix("email:"): d.last_error for d in db.session.query(Delivery)
                        .filter(Delivery.status == DeliveryStatus.FAILED)}
        db.session.remove()
    # Refused at RCPT, or taken and bounced later: both failed, saying why.
    assert set(bounced_rows) == REFUSED | BOUNCED
    assert reports(client, organizer, event["id"])[0]["counts"]["failed"] == 4
    assert all("mailbox does not exist" in reason for reason in bounced_rows.values())
    mails = titled(fake_mta, "First news")
    assert len(mails) == FOLLOWERS - len(REFUSED | BOUNCED) and not set(mails) & (REFUSED | BOUNCED)
    # Every mail went out with its own return path.
    assert all(m["X-Envelope-From"].startswith("bounces+d") and m["X-Envelope-From"].endswith("@" + BOUNCE_DOMAIN)
               for m in fake_mta.messages)

    announce(client, organizer, event["id"], "Second news", "Hello again.")
    counts = settled(client, organizer, event["id"], FOLLOWERS)
    assert counts == {"sent": FOLLOWERS - 4, "failed": 0, "pending": 0, "skipped": 0, "suppressed": 4}
    assert set(titled(fake_mta, "Second news")) == {f"follower{i}@example.com" for i in range(FOLLOWERS)} - REFUSED - BOUNCED
    assert fake_mta.refusals == len(REFUSED)  # the refused addresses were not even tried again

    listing = client.get(f"/api/v1/events/{event['id']}/notifications", headers=organizer).get_json()
    second = listing["items"][0]["notification"]["id"]
    rows = client.get(f"/api/v1/events/{event['id']}/notifications/{second}/deliveries?status=suppressed",
                      headers=organizer).get_json()
    reasons = {row["last_error"] for row in rows["items"]}
    assert len(rows["items"]) == 4
    assert all(r.startswith("this address bounced on ") and "mailbox does not exist" in r for r in reasons)
    assert not any(address in str(rows) for address in REFUSED | BOUNCED)  # organizers see them masked


PAUSE_AFTER_MAILS = 100  # 1,000 in production: the rule is the same, a tenth of the mail to send
PAUSE_FOLLOWERS = 300
PAUSE_REFUSED = {f"follower{i}@example.com" for i in range(0, PAUSE_FOLLOWERS, 5)}  # 20%


@pytest.fixture
def early_pause(app_config):
    app_config["BROADCAST_PAUSE_AFTER_MAILS"] = PAUSE_AFTER_MAILS


@pytest.mark.slow
@pytest.mark.parametrize("dead_mailboxes", [(PAUSE_REFUSED, set())])
def test_a_broadcast_bouncing_above_ten_percent_pauses_tells_its_organizer_and_resumes_once(
    early_pause, app, client, organizer, worker, fake_mta, mail_in, dead_mailboxes
):
    event = create_event(client, organizer)
    seed_subscribers(app, event["id"], PAUSE_FOLLOWERS)
    announce(client, organizer, event["id"], "Big news", "Hello.")

    wait_until(lambda: any(m["Subject"] == "Paused: Big news" for m in fake_mta.messages), timeout=120,
               message="the organizer told")
    [notice] = [m for m in fake_mta.messages if m["Subject"] == "Paused: Big news"]
    assert notice["X-Envelope-To"] == "host@example.com"
    assert f"/events/{event['id']}/messages/" in notice.get_body(("plain",)).get_content()
    time.sleep(3)  # batches in flight finish their group and stop
    report = reports(client, organizer, event["id"])[0]
    assert report["notification"]["paused_at"] is not None
    attempted = report["counts"]["sent"] + report["counts"]["failed"]
    assert PAUSE_AFTER_MAILS <= attempted < PAUSE_FOLLOWERS  # stopped after its first 100, not at the end
    assert len(titled(fake_mta, "Big news")) < PAUSE_FOLLOWERS - len(PAUSE_REFUSED)

    notification_id = report["notification"]["id"]
    resume = f"/api/v1/events/{event['id']}/notifications/{notification_id}/resume"
    answer = client.post(resume, headers=organizer)
    assert answer.status_code == 200 and answer.get_json()["paused_at"] is None
    assert client.post(resume, headers=organizer).status_code == 409  # once
    living = {f"follower{i}@example.com" for i in range(PAUSE_FOLLOWERS)} - PAUSE_REFUSED
    wait_until(lambda: set(titled(fake_mta, "Big news")) == living, timeout=120, message="the rest sent")
    time.sleep(1)
    assert titled(fake_mta, "Big news") == Counter({address: 1 for address in living})  # each once
    counts = settled(client, organizer, event["id"], PAUSE_FOLLOWERS)
    assert counts["sent"] == len(living) and counts["failed"] == len(PAUSE_REFUSED)


def test_the_who_got_it_page_resumes_a_paused_message_once_and_cancels_the_rest_of_another(
    app, client, make_user, bearer, login
):
    host = make_user("host@example.com")
    event = create_event(client, bearer(host))
    seed_subscribers(app, event["id"], 2)
    with app.app_context():
        paused = [Notification(event_id=event["id"], kind=NotificationKind.ANNOUNCEMENT, title=title, paused_at=utcnow())
                  for title in ("Big news", "Other news")]
        db.session.add_all(paused)
        db.session.flush()
        for notification in paused:
            db.session.add_all(Delivery(notification_id=notification.id, subscription_id=subscription.id,
                                        target=f"email:{subscription.user.email}", channel="email")
                               for subscription in db.session.query(Subscription).filter_by(event_id=event["id"]))
        db.session.commit()
        big, other = (n.id for n in paused)
        db.session.remove()
    login(host)
    page = f"/events/{event['id']}/messages/{big}"
    shown = client.get(page).get_data(as_text=True)
    assert "data-paused" in shown and "Resume sending" in shown and "Cancel the rest" in shown
    token = csrf_token(client, page)

    resumed = client.post(f"{page}/resume", data={"csrf_token": token})
    assert resumed.status_code == 302 and resumed.headers["Location"].endswith(page)
    after = client.get(page).get_data(as_text=True)
    assert "Resumed: the rest is being sent" in after and "data-paused" not in after
    # Once: the second press is refused on the error page with the service's sentence.
    again = client.post(f"{page}/resume", data={"csrf_token": token})
    assert again.status_code == 409 and "This message is not paused" in again.get_data(as_text=True)

    other_page = f"/events/{event['id']}/messages/{other}"
    assert client.post(f"{other_page}/cancel-rest", data={"csrf_token": token}).status_code == 302
    assert client.post(f"{other_page}/resume", data={"csrf_token": token}).status_code == 409
    with app.app_context():
        # The resumed one goes back to its event's workflow (an outbox row); the other sends no more.
        assert [(o.kind, o.subject_id) for o in db.session.query(OutboxItem).filter_by(kind=OutboxKind.RESUME)] == [
            (OutboxKind.RESUME, big)]
        statuses = {d.notification_id: d.status for d in db.session.query(Delivery)}
        assert statuses == {big: DeliveryStatus.PENDING, other: DeliveryStatus.SKIPPED}
        db.session.remove()


def test_the_owner_of_a_suppressed_address_lifts_it_with_a_link_mailed_to_it_once(
    app, client, make_user, login, worker, fake_mta
):
    user = make_user("returning@example.com")
    with app.app_context():
        mail_reputation.record([Bounce("returning@example.com", BounceKind.HARD, "5.1.1",
                                       "mailbox does not exist", Source.MAIL_IN)])
        db.session.commit()
        db.session.remove()
    login(user)
    page = client.get("/account").get_data(as_text=True)
    assert "Mail to your address is stopped" in page and "mailbox does not exist" in page

    asked = client.post("/account/mail/lift", data={"csrf_token": csrf_token(client, "/account")})
    assert asked.status_code == 302
    # The one mail a suppressed address gets: its owner asked for it.
    wait_until(lambda: titled(fake_mta, "Start mail to this address again"), message="the lift link mailed")
    [mail] = [m for m in fake_mta.messages if m["Subject"] == "Start mail to this address again"]
    assert mail["X-Envelope-To"] == "returning@example.com"
    path = next(p for p in LINK.findall(mail.get_body(("plain",)).get_content()) if p.startswith("/account/mail/lift/"))

    stranger = app.test_client()  # the link alone proves the mailbox: no sign-in needed
    confirm_page = stranger.get(path)
    assert confirm_page.status_code == 200 and "Start mail again" in confirm_page.get_data(as_text=True)
    with app.app_context():
        assert mail_reputation.suppression_of("returning@example.com") is not None  # GET only asks
        db.session.remove()
    assert stranger.post(path, data={"csrf_token": csrf_token(stranger, path)}).status_code == 302
    with app.app_context():
        assert mail_reputation.suppression_of("returning@example.com") is None
        db.session.remove()
    assert stranger.get(path).status_code == 404  # once
    assert "Mail to your address is stopped" not in client.get("/account").get_data(as_text=True)
    # Nothing to lift any more: asking again is refused with why, and mails nothing.
    again = client.post("/account/mail/lift", data={"csrf_token": csrf_token(client, "/account")},
                        follow_redirects=True)
    assert "there is nothing to lift" in again.get_data(as_text=True)


@pytest.fixture
def two_lift_links_per_address(app_config):
    app_config["LIFT_LINK_RATE_LIMIT_PER_EMAIL"] = "2 per day"


def test_lift_links_are_few_per_address(two_lift_links_per_address, app, client, make_user, login):
    user = make_user("unlucky@example.com")
    with app.app_context():
        mail_reputation.record([Bounce("unlucky@example.com", BounceKind.HARD, "5.1.1", "gone", Source.SMTP)])
        db.session.commit()
        db.session.remove()
    login(user)
    token = csrf_token(client, "/account")
    for _ in range(2):
        assert client.post("/account/mail/lift", data={"csrf_token": token}).status_code == 302
    limited = client.post("/account/mail/lift", data={"csrf_token": token})
    assert limited.status_code == 429 and "Too many links mailed to that address" in limited.get_data(as_text=True)


def test_a_lift_link_is_refused_forged_expired_or_after_a_new_suppression(app, client, make_user):
    user = make_user("twice@example.com")
    secret = app.config["SECRET_KEY"]
    with app.app_context():
        mail_reputation.record([Bounce("twice@example.com", BounceKind.HARD, "5.1.1", "gone", Source.SMTP)])
        db.session.commit()
        first = mail_reputation.suppression_mark(mail_reputation.suppression_of("twice@example.com"))
        db.session.remove()
    old_link = f"/account/mail/lift/{sign(secret, LinkPurpose.LIFT_SUPPRESSION, [user.id, first])}"
    forged = f"/account/mail/lift/{sign('not-our-secret', LinkPurpose.LIFT_SUPPRESSION, [user.id, first])}"
    assert client.get(forged).status_code == 404
    expired = client.get(f"/account/mail/lift/{expired_link(secret, LinkPurpose.LIFT_SUPPRESSION, [user.id, first])}")
    assert expired.status_code == 404 and "This link has expired" in expired.get_data(as_text=True)
    with app.app_context():
        # Lifted some other way, then suppressed again: the old link is not for this entry.
        assert mail_reputation.lift("twice@example.com", first)
        mail_reputation.record([Bounce("twice@example.com", BounceKind.HARD, "5.1.1", "gone", Source.SMTP)])
        db.session.commit()
        db.session.remove()
    assert client.post(old_link, data={"csrf_token": csrf_token(client, old_link)}).status_code == 404
    with app.app_context():
        assert mail_reputation.suppression_of("twice@example.com") is not None
        db.session.remove()


def mail_history(app, event_id: int, prefix: str, mails: int, hard_bounces: int = 0, complaints: int = 0) -> None:
    """A broadcast of the event's that mailed ``mails`` of its followers (``prefix``: theirs),
    the first ones answered by hard bounces, then complaints."""
    seed_subscribers(app, event_id, mails, prefix=prefix)
    with app.app_context():
        notification = Notification(event_id=event_id, kind=NotificationKind.ANNOUNCEMENT, title="News")
        db.session.add(notification)
        db.session.flush()
        rows = [Delivery(notification_id=notification.id, subscription_id=s.id, target=f"email:{s.user.email}",
                         channel="email", status=DeliveryStatus.SENT)
                for s in db.session.query(Subscription).filter_by(event_id=event_id)]
        db.session.add_all(rows)
        db.session.flush()
        kinds = [BounceKind.HARD] * hard_bounces + [BounceKind.COMPLAINT] * complaints
        mail_reputation.record([Bounce(row.target.removeprefix("email:"), kind, "5.1.1", "gone", Source.MAIL_IN, row.id)
                                for row, kind in zip(rows, kinds)])
        db.session.commit()
        db.session.remove()


def test_each_organizers_standing_on_their_dashboard_and_the_few_nearest_a_limit_in_metrics(
    app, client, make_user, bearer, login, monkeypatch
):
    monkeypatch.setattr(mail_standing, "MAILS_FOR_A_RATE", 10)
    monkeypatch.setattr(mail_standing, "ORGANIZERS_IN_METRICS", 2)
    mail_standing.forget_cached_metrics()
    hosts = {name: make_user(f"{name}@example.com") for name in ("bouncy", "complained", "clean", "tiny")}
    events = {name: create_event(client, bearer(user))["id"] for name, user in hosts.items()}
    mail_history(app, events["bouncy"], "b", 20, hard_bounces=4)  # 20% bounced
    mail_history(app, events["complained"], "c", 20, complaints=1)  # 5% complaints: the furthest over
    mail_history(app, events["clean"], "k", 20)
    mail_history(app, events["tiny"], "t", 5, hard_bounces=5)  # too few mails for a rate to mean much

    login(hosts["bouncy"])
    page = client.get("/dashboard").get_data(as_text=True)
    assert "Last 30 days: 20 mails, 20% bounced (the address does not exist), 0% reported as spam." in page
    assert "data-at-risk" in page and "(5% bounced, 0.3% reported as spam)" in page
    login(hosts["clean"])
    page = client.get("/dashboard").get_data(as_text=True)
    assert "Last 30 days: 20 mails, 0% bounced" in page and "data-at-risk" not in page

    text = client.get("/metrics").get_data(as_text=True)
    ids = {name: str(user.id) for name, user in hosts.items()}
    assert "soonish_sender_mails 65.0" in text
    assert "soonish_sender_bounce_rate 0.13846" in text  # 9 of 65
    organizers = set(re.findall(r'soonish_organizer_mails\{organizer_id="(\d+)"\}', text))
    assert organizers == {ids["complained"], ids["bouncy"]}  # bounded: the two nearest a limit
    assert f'soonish_organizer_complaint_rate{{organizer_id="{ids["complained"]}"}} 0.05' in text
    assert f'soonish_organizer_bounce_rate{{organizer_id="{ids["bouncy"]}"}} 0.2' in text
    assert "@example.com" not in text  # organizers by id only
