"""The organizer's view of deliveries: the dashboard's followers and latest counts (a fixed
number of queries however many events), and delivery counts that poll only while sending."""
import threading
from datetime import timedelta

from sqlalchemy import event as sqlalchemy_event

from sqlalchemy import insert, select

from soonish.domain.delivery import ledger
from soonish.models import Delivery, DeliveryStatus, Notification, NotificationKind, User, db
from soonish.services.notifications import organizer_overview

from .api_helpers import announce, create_event, subscribe
from .conftest import csrf_token
from loopback.sinks import wait_until

HTMX = {"HX-Request": "true"}
POLLS = 'hx-trigger="every 2s"'


def overview_queries(app, organizer_id: int) -> int:
    """How many SQL statements the dashboard's overview takes, in a fresh session."""
    with app.app_context():
        organizer = db.session.get(User, organizer_id)
        return queries_made(lambda: organizer_overview(organizer))


def queries_made(call) -> int:
    """Statements ``call`` sends; the worker's activities share the engine from other threads."""
    count = 0
    caller = threading.get_ident()

    def counted(*_):
        nonlocal count
        count += threading.get_ident() == caller

    sqlalchemy_event.listen(db.engine, "before_cursor_execute", counted)
    try:
        call()
    finally:
        sqlalchemy_event.remove(db.engine, "before_cursor_execute", counted)
    return count


def test_dashboard_shows_followers_and_the_latest_delivery(app, client, make_user, bearer, login, worker, smtp_sink):
    host = make_user("host@example.com")
    login(host)
    book_club = create_event(client, bearer(host), title="Book club")
    create_event(client, bearer(host), title="Quiet night")
    for name in ("ann", "bob"):
        subscribe(client, bearer(make_user(f"{name}@example.com")), book_club["id"])
    announce(client, bearer(host), book_club["id"], "Chapter 7 next time")

    def delivered() -> bool:
        return 'data-count="sent">2' in client.get("/dashboard", headers=HTMX).get_data(as_text=True)

    wait_until(delivered, message="both deliveries on the dashboard")
    page = client.get("/dashboard").get_data(as_text=True)
    book_club_row = page[page.index(f'data-event="{book_club["id"]}"'):]
    book_club_row = book_club_row[: book_club_row.index("</li>")]
    # The latest broadcast is the announcement, not a follower's own welcome.
    assert "2 followers" in book_club_row and "Latest: <strong>Chapter 7 next time</strong>" in book_club_row
    assert 'data-count="failed">0' in book_club_row and 'data-count="pending">0' in book_club_row
    assert "<strong>2</strong><span>followers in all</span>" in page
    assert "0 followers" in page  # the quiet night
    assert POLLS not in page  # nothing is being sent: the list stays still

    few = overview_queries(app, host.id)
    for i in range(3):
        event = create_event(client, bearer(host), title=f"More {i}")
        announce(client, bearer(host), event["id"], f"News {i}")
    assert overview_queries(app, host.id) == few


def test_counts_poll_while_an_announcement_is_on_its_way(app, client, make_user, bearer, login):
    """No worker runs here: the announcement stays on its way, with no deliveries yet."""
    host = make_user("host@example.com")
    login(host)
    event = create_event(client, bearer(host), title="Book club")
    page = f"/e/{event['slug']}"
    response = client.post(f"/events/{event['id']}/announce", data={"title": "Doors at 7"},
                           headers={**HTMX, "X-CSRFToken": csrf_token(client, page)})
    panel = response.get_data(as_text=True)
    # htmx gets the organizer panel back: a fresh form, a word on what happened, counts polling.
    assert response.status_code == 200 and "<html" not in panel and 'id="organizer"' in panel
    assert "on its way to every follower" in panel and 'name="title" placeholder' in panel and 'value="Doors at 7"' not in panel
    assert POLLS in panel and "sending…" in panel
    assert POLLS in client.get("/dashboard").get_data(as_text=True)

    # However long its workflow takes to plan it, it is on its way, not a message to no one.
    with app.app_context():
        notification = db.session.query(Notification).one()
        notification.created_at -= timedelta(minutes=5)
        db.session.commit()
        notification_id = notification.id
    assert POLLS in client.get(f"/events/{event['id']}/deliveries").get_data(as_text=True)

    # Its fan-out ran and found no one to send to: the counts stand still.
    with app.app_context():
        ledger.mark_settled(notification_id)
    deliveries = client.get(f"/events/{event['id']}/deliveries").get_data(as_text=True)
    assert POLLS not in deliveries and "No one to send it to." in deliveries
    assert POLLS not in client.get("/dashboard").get_data(as_text=True)


def two_followers_greeted(app, client, make_user, bearer, login):
    """An organizer signed in, their event, and Ann's and Ben's welcomes (id, subscription id)."""
    host = make_user("host@example.com")
    login(host)
    event = create_event(client, bearer(host), title="Poetry night")
    for name in ("ann", "ben"):
        subscribe(client, bearer(make_user(f"{name}@example.com")), event["id"])
    with app.app_context():
        welcomes = db.session.execute(
            select(Notification.id, Notification.subscription_id)
            .where(Notification.kind == NotificationKind.WELCOME).order_by(Notification.id)
        ).all()
    return event, *welcomes


def test_folded_welcomes_wait_for_every_welcome_planned(app, client, make_user, bearer, login):
    """Two followers greeted; the second's welcome was delivered while the first's still waits
    for its planning (batches of different welcomes run in any order). The folded entry counts
    the first as pending and keeps polling, and settles once both are delivered. No worker runs
    here: the test plays the workflow's part with the ledger's own calls."""
    event, first, second = two_followers_greeted(app, client, make_user, bearer, login)

    def deliver(welcome) -> None:
        with app.app_context():
            db.session.add(Delivery(notification_id=welcome.id, subscription_id=welcome.subscription_id,
                                    target=f"email:{welcome.id}", channel="email", status=DeliveryStatus.SENT))
            db.session.commit()
            ledger.mark_settled(welcome.id)

    def panel() -> str:
        return client.get(f"/events/{event['id']}/deliveries").get_data(as_text=True)

    deliver(second)
    seen = panel()
    assert "2 new followers greeted" in seen and "Welcomes — 1 delivered" in seen
    assert 'data-count="sent">1' in seen and 'data-count="pending">1' in seen
    assert POLLS in seen and "sending…" in seen

    deliver(first)
    seen = panel()
    assert "Welcomes — 2 delivered" in seen and 'data-count="pending">0' in seen
    assert POLLS not in seen


def test_a_welcome_claimed_while_the_panel_is_read_keeps_it_polling(app, client, make_user, bearer, login):
    """The fan-out claims the second welcome's row in the middle of the panel's reads (right
    after the statement counting deliveries): the panel still shows it going out and keeps
    polling, instead of one delivered and none pending for good (seen in the browser on a busy box)."""
    event, first, second = two_followers_greeted(app, client, make_user, bearer, login)
    with app.app_context():
        db.session.add(Delivery(notification_id=first.id, subscription_id=first.subscription_id,
                                target="email:ann@example.com", channel="email", status=DeliveryStatus.SENT))
        db.session.commit()
        engine = db.engine
    counted = []

    def claim_after_the_count(conn, cursor, statement, *args) -> None:
        if counted == ["counted"]:
            counted.append("claimed")
            with engine.begin() as fan_out:
                fan_out.execute(insert(Delivery.__table__).values(
                    notification_id=second.id, subscription_id=second.subscription_id,
                    target="email:ben@example.com", channel="email", status=DeliveryStatus.PENDING))
        elif not counted and "GROUP BY deliveries.status" in statement:
            counted.append("counted")

    sqlalchemy_event.listen(engine, "before_cursor_execute", claim_after_the_count)
    try:
        seen = client.get(f"/events/{event['id']}/deliveries").get_data(as_text=True)
    finally:
        sqlalchemy_event.remove(engine, "before_cursor_execute", claim_after_the_count)
    assert counted == ["counted", "claimed"]
    assert "Welcomes — 1 delivered" in seen and 'data-count="pending">1' in seen
    assert POLLS in seen and "sending…" in seen


def test_only_the_organizer_sees_deliveries(client, make_user, bearer, login):
    event = create_event(client, bearer(make_user("host@example.com")))
    login(make_user("someone@example.com"))
    assert client.get(f"/events/{event['id']}/deliveries").status_code == 403
    page = client.get(f"/e/{event['slug']}").get_data(as_text=True)
    assert 'id="organizer"' not in page and 'id="subscribe"' in page
