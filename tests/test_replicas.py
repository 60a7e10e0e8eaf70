"""Read replicas, against a real PostgreSQL streaming replica started here: an anonymous visitor
reads the replica while whoever just wrote reads the primary (shown with replay paused, so the
two differ); a confirm link reads the primary; a replica lagging past the limit, or stopped, is
skipped and the primary answers; /readyz and /metrics say which served. The routing session's
rules on their own run on SQLite, without a server."""
import re

import pytest
from sqlalchemy import create_engine, select, text

from soonish.links import LinkPurpose, sign
from soonish.models import Subscription, User, db
from soonish.models.replicas import READ_FROM, WriteOnReplica
from soonish.web import create_app

from .api_helpers import create_event
from loopback.postgres_cluster import ReplicatedPair, missing_reason
from loopback.sinks import wait_until

# The suite spreads tests over its processes one by one; one replicated PostgreSQL pair (a
# second cluster, started and stopped) serves every test here, so they run in one process.
pytestmark = pytest.mark.xdist_group("replicas")


def test_a_session_reading_a_replica_never_writes_there(tmp_path):
    """The routing rule itself: SELECTs go to the replica engine, every write is refused there."""
    primary_url, replica_url = f"sqlite:///{tmp_path / 'primary.db'}", f"sqlite:///{tmp_path / 'replica.db'}"
    app = create_app({"TESTING": True, "SECRET_KEY": "s" * 40, "DATABASE_URL": primary_url})
    replica = create_engine(replica_url)
    with app.app_context():
        db.create_all()
        db.metadata.create_all(replica)
        with replica.begin() as connection:
            connection.execute(text("INSERT INTO users (email, display_name, is_verified, created_at)"
                                    " VALUES ('only@replica.test', 'R', 0, '2030-01-01')"))
        db.session.info[READ_FROM] = replica
        assert db.session.scalar(select(User.email)) == "only@replica.test"
        db.session.add(User(email="new@example.com", display_name="N"))
        with pytest.raises(WriteOnReplica):
            db.session.flush()
        db.session.rollback()
        with pytest.raises(WriteOnReplica):
            db.session.execute(select(User).with_for_update())
        with pytest.raises(WriteOnReplica):
            db.session.execute(text("UPDATE users SET display_name = 'x'"))
        db.session.info.pop(READ_FROM)
        assert db.session.scalar(select(User.email)) is None  # the primary has no one
    replica.dispose()


@pytest.fixture(scope="module")
def pair():
    reason = missing_reason()
    if reason:
        pytest.skip(reason)
    started = ReplicatedPair().start()
    started.primary.execute("CREATE DATABASE soonish")
    yield started
    started.stop()


@pytest.fixture
def lag_limit() -> float:
    return 300  # generous: a loaded machine must not turn a paused replica "lagging" mid-test


@pytest.fixture
def check_seconds() -> float:
    return 0.1


@pytest.fixture
def app_config(app_config, pair, lag_limit, check_seconds) -> dict:
    """This module's app reads the pair's replica (conftest's app, host and organizer follow)."""
    app_config.update(
        DATABASE_URL=pair.primary.url("soonish"), DATABASE_REPLICA_URLS=pair.replica.url("soonish"),
        REPLICA_MAX_LAG_SECONDS=lag_limit, REPLICA_CHECK_SECONDS=check_seconds, REPLICA_STICKY_SECONDS=30,
    )
    return app_config


@pytest.fixture
def replica_app(app, pair):
    pair.wait_caught_up()  # the emptied tables
    yield app
    pair.resume_replay()
    for replica in app.extensions["soonish.replicas"]:
        replica.engine.dispose()


def reads(client) -> dict[tuple[str, str], float]:
    """soonish_database_reads_total by (target, reason), from /metrics."""
    exposition = client.get("/metrics").get_data(as_text=True)
    return {(target, reason): float(value) for reason, target, value in re.findall(
        r'^soonish_database_reads_total\{reason="([^"]+)",target="([^"]+)"\} (\S+)$', exposition, re.M)}


def title_on_page(client, slug: str) -> str:
    page = client.get(f"/e/{slug}")
    assert page.status_code == 200
    return re.search(r"<h1[^>]*>\s*([^<]+?)\s*<", page.get_data(as_text=True)).group(1)


def test_who_just_wrote_reads_the_primary_and_everyone_else_the_replica(replica_app, pair, organizer):
    organizer_client, visitor = replica_app.test_client(), replica_app.test_client()
    event = create_event(organizer_client, organizer, title="Rooftop jazz")
    pair.wait_caught_up()
    replica_name = f"127.0.0.1:{pair.replica.port}/soonish"
    before = reads(visitor)

    pair.pause_replay()  # from here the replica shows the event as it was
    edited = organizer_client.patch(f"/api/v1/events/{event['id']}", json={"title": "Rooftop jazz, moved indoors"},
                                    headers=organizer)
    assert edited.status_code == 200
    assert "soonish_wrote=" in edited.headers["Set-Cookie"]
    assert title_on_page(organizer_client, event["slug"]) == "Rooftop jazz, moved indoors"  # the primary
    assert title_on_page(visitor, event["slug"]) == "Rooftop jazz"  # the replica, still behind
    # The visitor's page is now kept for anonymous views (web/anonymous_page.py), read from the
    # replica: who just wrote is never answered from it.
    assert title_on_page(organizer_client, event["slug"]) == "Rooftop jazz, moved indoors"
    assert visitor.get(f"/api/v1/events/{event['id']}").get_json()["title"] == "Rooftop jazz"

    after = reads(visitor)
    assert after.get((replica_name, "reads_only"), 0) - before.get((replica_name, "reads_only"), 0) >= 2
    assert after.get(("primary", "read_your_writes"), 0) - before.get(("primary", "read_your_writes"), 0) == 2
    ready = visitor.get("/readyz").get_json()
    assert ready["replicas"][replica_name]["in_use"] is True

    pair.resume_replay()
    pair.wait_caught_up()
    # The kept anonymous page may outlive the lag by EVENT_PAGE_CACHE_SECONDS.
    wait_until(lambda: title_on_page(visitor, event["slug"]) == "Rooftop jazz, moved indoors",
               timeout=replica_app.config["EVENT_PAGE_CACHE_SECONDS"] + 5, message="the edit on the visitor's page")


def test_a_confirm_link_reads_the_primary_though_the_replica_has_not_seen_the_follow(replica_app, pair, organizer):
    event = create_event(replica_app.test_client(), organizer, title="Book club")
    pair.wait_caught_up()
    pair.pause_replay()
    follower = replica_app.test_client()
    followed = follower.post(f"/api/v1/events/{event['id']}/subscriptions", json={"email": "reader@example.com"})
    assert followed.status_code == 202
    token = sign(replica_app.config["SECRET_KEY"], LinkPurpose.CONFIRM, followed.get_json()["id"])
    # Opened from the mail: another browser, no cookie of the follow.
    page = replica_app.test_client().get(f"/s/confirm/{token}")
    assert page.status_code == 200, page.get_data(as_text=True)
    with replica_app.app_context():
        assert db.session.get(Subscription, followed.get_json()["id"]).status.value == "active"


@pytest.mark.own_app  # adds routes
def test_a_get_that_writes_runs_again_on_the_primary(replica_app, pair):
    @replica_app.get("/test-only/count-a-visit")
    def count_a_visit():  # a view that writes on GET and was never marked
        db.session.add(User(email="visit@example.com", display_name="Visit"))
        db.session.commit()
        return {"users": db.session.scalar(select(db.func.count(User.id)))}

    @replica_app.get("/test-only/lock-by-hand")
    def lock_by_hand():  # raw SQL the session takes for a read: the standby itself refuses it
        return {"locked": len(db.session.execute(text("SELECT id FROM users FOR UPDATE")).all())}

    client = replica_app.test_client()
    answer = client.get("/test-only/count-a-visit")
    assert answer.status_code == 200 and answer.get_json() == {"users": 1}
    assert reads(client)[("primary", "wrote_on_read")] == 1
    assert "soonish_wrote=" in answer.headers["Set-Cookie"]
    pair.wait_caught_up()
    other = replica_app.test_client()
    assert other.get("/test-only/lock-by-hand").get_json() == {"locked": 1}
    assert reads(other)[("primary", "wrote_on_read")] == 2
    replica_name = f"127.0.0.1:{pair.replica.port}/soonish"
    assert other.get("/readyz").get_json()["replicas"][replica_name]["in_use"] is True  # not taken as down


@pytest.mark.parametrize("lag_limit", [0.5])
def test_a_replica_lagging_past_the_limit_is_skipped(replica_app, pair, organizer):
    event = create_event(replica_app.test_client(), organizer, title="Choir practice")
    pair.wait_caught_up()
    pair.pause_replay()
    replica_app.test_client().patch(f"/api/v1/events/{event['id']}", json={"title": "Choir practice, 7 pm"},
                                    headers=organizer)
    visitor = replica_app.test_client()
    replica_name = f"127.0.0.1:{pair.replica.port}/soonish"
    wait_until(lambda: visitor.get("/readyz").get_json()["replicas"][replica_name]["state"] == "lagging",
               10, 0.2, "the replica's lag to show")
    assert title_on_page(visitor, event["slug"]) == "Choir practice, 7 pm"  # the primary
    assert ("primary", "no_replica_ready") in reads(visitor)


# Checked rarely: the stop is met by a query on the replica, not by a check.
@pytest.mark.parametrize("check_seconds", [300])
def test_with_the_replica_stopped_every_page_answers_from_the_primary(replica_app, pair, organizer, host):
    client = replica_app.test_client()
    event = create_event(client, organizer, title="Night market")
    pair.wait_caught_up()
    visitor = replica_app.test_client()
    assert title_on_page(visitor, event["slug"]) == "Night market"  # the replica serves and its pool is warm
    replica_name = f"127.0.0.1:{pair.replica.port}/soonish"
    pair.replica.stop()
    try:
        pages = ["/", f"/e/{event['slug']}", f"/e/{event['slug']}/share.png", f"/hosts/{host.id}",
                 f"/api/v1/events/{event['id']}", "/api/v1/events", "/login"]
        for path in pages:  # /hosts/<id> leads on to the host's community page
            assert visitor.get(path, follow_redirects=True).status_code == 200, path
        # The first read on the stopped replica failed, ran again on the primary, and the replica
        # was taken as down at once.
        assert reads(visitor)[("primary", "replica_failed")] == 1
        ready = visitor.get("/readyz")
        assert ready.status_code == 200  # the primary serves: this process is ready
        assert ready.get_json()["replicas"][replica_name] == {"state": "down", "in_use": False, "lag_seconds": None}
    finally:
        pair.replica.start()
