"""A destination that keeps failing holds back nobody else: its retries run beside the event's
next messages (issue 22, item 3)."""
import time

from soonish.models import Delivery, DeliveryStatus, db

from .api_helpers import announce, create_event, follow_by_webhook
from loopback.sinks import free_port, wait_until


def dead_webhook() -> str:
    """A webhook whose host refuses every connection: nothing listens on the port."""
    return f"json://127.0.0.1:{free_port()}/gone"


def deliveries_of(app, subscription_id: int) -> list[Delivery]:
    with app.app_context():
        rows = db.session.query(Delivery).filter_by(subscription_id=subscription_id).all()
        db.session.expunge_all()
        return rows


def test_a_dead_webhook_retries_beside_the_next_messages(app, client, make_user, bearer, worker, http_sink):
    organizer = bearer(make_user("host@example.com"))
    event = create_event(client, organizer)
    # The dead follower's welcome fails and is retried after 1, 2, 4 ... 64 s.
    dead = follow_by_webhook(client, bearer(make_user("dead@example.com")), event["id"], dead_webhook())
    wait_until(lambda: any(d.attempts for d in deliveries_of(app, dead["id"])), message="the dead welcome's first try")
    follow_by_webhook(client, bearer(make_user("live@example.com")), event["id"], http_sink.url("/live"))

    announced = time.monotonic()
    announce(client, organizer, event["id"], "Doors open at 7")
    wait_until(lambda: [r for r in http_sink.delivered("/live") if r.body["title"] == "Doors open at 7"],
               timeout=5, message="the live follower's announcement within 5 s")
    assert time.monotonic() - announced < 5
    # The live follower gets its welcome too (its follow's outbox row may be drained after the
    # announcement), and each message once.
    wait_until(lambda: len(http_sink.delivered("/live")) >= 2, message="the live follower's welcome")
    assert sorted(r.body["title"] for r in http_sink.delivered("/live")) == ["Doors open at 7", "You're following Launch party"]

    # Meanwhile the dead follower's deliveries are still being retried, not given up.
    wait_until(lambda: max(d.attempts for d in deliveries_of(app, dead["id"])) >= 3, timeout=15,
               message="the dead welcome's third attempt")
    assert {d.status for d in deliveries_of(app, dead["id"])} == {DeliveryStatus.PENDING}
