import os
import re
import uuid
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from soonish.i18n import catalogs
from soonish.models import User, db
from soonish.web import create_app
from soonish.web.tokens import issue_token

from .chat_fakes import SIGNING_SECRET, FakeDiscord, FakeSlack
from loopback.harness import Harness
from loopback.processes import ScratchDatabase
from loopback.push_service import FakePushService
from .reused_apps import ReusedApps
from loopback.sinks import HttpSink, SmtpSink

# A fresh clone's catalogs, compiled (and the pseudo-locale written) for a test run without make.
catalogs.build()

# SQLite by default; `make test` runs the suite a second time against PostgreSQL.
TEST_DATABASE_URL = os.environ.get("SOONISH_TEST_DATABASE_URL", "")
PASSWORD = "correct horse battery"
CHEAP_PASSWORD_HASH = "pbkdf2:sha256:1000"


@pytest.fixture(scope="session")
def harness():
    h = Harness()
    yield h
    h.close()


# Under xdist the run's controller starts one dev server for all its processes (pytest_configure
# below) and names it here: each test has its own task queue and id prefix, so they share it as
# the tests of one process always did, and one server idling beside each process cost the run
# about 4% of a core each (six of them and the browser's).
SHARED_TEMPORAL = "SOONISH_TEST_SHARED_TEMPORAL"


@pytest.fixture(scope="session")
def temporal_env(harness):
    if os.environ.get(SHARED_TEMPORAL):
        yield harness.connect(os.environ[SHARED_TEMPORAL])
        return
    env = harness.start_dev_server()
    yield env
    harness.run(env.shutdown())


@pytest.fixture(scope="session")
def time_skipping_env(harness):
    """The time-skipping test server: long waits pass at once (it has no Schedules)."""
    env = harness.start_time_skipping_server()
    yield env
    harness.run(env.shutdown())


@pytest.fixture(scope="session")
def postgres_url():
    """A PostgreSQL database of this run's own, made on the server SOONISH_TEST_DATABASE_URL
    names and dropped afterwards, so runs sharing that server never collide."""
    if not is_postgres():
        yield None
        return
    database = ScratchDatabase("soonish_test", server_url=TEST_DATABASE_URL)
    yield database.url
    database.drop()


# Databases that already have every table: a test empties them instead of making them again.
_TABLES_MADE: set[str] = set()


@pytest.fixture(scope="session")
def sqlite_url(tmp_path_factory) -> str:
    """This process's SQLite database, with every table; each test's ``app`` empties it. One
    file for all (as on PostgreSQL): the tests share an app, and an app keeps its database."""
    url = f"sqlite:///{tmp_path_factory.mktemp('database') / 'soonish.sqlite'}"
    engine = create_engine(url)
    db.metadata.create_all(engine)
    engine.dispose()
    _TABLES_MADE.add(make_url(url).render_as_string(hide_password=False))
    return url


@pytest.fixture
def database_url(postgres_url, sqlite_url) -> str:
    return postgres_url or sqlite_url


@pytest.fixture(scope="session")
def reused_apps() -> ReusedApps:
    return ReusedApps()


@pytest.fixture(scope="session")
def smtp_sink():
    sink = SmtpSink().start()
    yield sink
    sink.stop()


@pytest.fixture(scope="session")
def _http_sink():
    sink = HttpSink().start()
    yield sink
    sink.stop()


@pytest.fixture
def http_sink(_http_sink):
    _http_sink.clear()
    _http_sink.failing = range(0)
    _http_sink.failing_status = 503
    _http_sink.retry_after = None
    _http_sink.delay = 0.0
    return _http_sink


@pytest.fixture(scope="session")
def _fake_push():
    service = FakePushService().start()
    yield service
    service.stop()


@pytest.fixture
def fake_push(_fake_push) -> FakePushService:
    """The fake Web Push service (loopback/push_service.py), emptied for the test."""
    _fake_push.clear()
    return _fake_push


@pytest.fixture
def app_config(database_url, temporal_env, smtp_sink) -> dict:
    """This test's app settings; a test may change them before asking for ``app``."""
    smtp_sink.clear()
    test_id = uuid.uuid4().hex[:10]
    return {
        "TESTING": True,
        "SECRET_KEY": "test-secret-" + "x" * 32,
        "DATABASE_URL": database_url,
        "TEMPORAL_ADDRESS": temporal_env.client.service_client.config.target_host,
        "TEMPORAL_NAMESPACE": temporal_env.client.namespace,
        # Each test gets its own queue and id space on the shared server.
        "TEMPORAL_TASK_QUEUE": f"test-{test_id}",
        "TEMPORAL_ID_PREFIX": f"t{test_id}-",
        "SMTP_HOST": "127.0.0.1",
        "SMTP_PORT": smtp_sink.port,
        "SMTP_STARTTLS": False,
        "ALLOW_PRIVATE_TARGETS": True,  # the sinks live on loopback
        "PUBLIC_URL": "http://soonish.test",
        # One update per edit, at once: what most tests check. Coalescing's own tests set a window.
        "UPDATE_COALESCE_SECONDS": 0,
        # The suite signs hundreds of people up: scrypt's deliberate cost (0.1 s of CPU a hash, more
        # on a busy box) added minutes. test_auth checks the default.
        "PASSWORD_HASH_METHOD": CHEAP_PASSWORD_HASH,
        # Tests poll the API every 0.1 s while they wait for deliveries: on a busy machine a wait
        # of over a minute passed the default 100 a minute. The limits' own tests set theirs.
        "API_RATE_LIMIT": "10000 per minute",
    }


def fresh_tables() -> None:
    """Empty tables for a test, in the app's context. Each database gets its tables once; later
    tests delete the rows (and restart PostgreSQL's id sequences, so ids start at 1 as on a new
    database). Dropping and creating every table took 1.1 s of each test's setup on PostgreSQL
    and TRUNCATE 0.7 s (new files for every table); deleting from empty tables takes 0.03 s."""
    url = db.engine.url.render_as_string(hide_password=False)
    if url not in _TABLES_MADE:
        db.drop_all()
        db.create_all()
        _TABLES_MADE.add(url)
        return
    statements = [f'DELETE FROM "{table.name}"' for table in reversed(db.metadata.sorted_tables)]
    with db.engine.begin() as connection:
        if db.engine.dialect.name == "postgresql":
            statements += [f"ALTER SEQUENCE {name} RESTART" for name in connection.scalars(text(
                "SELECT quote_ident(sequence_schema) || '.' || quote_ident(sequence_name)"
                " FROM information_schema.sequences WHERE sequence_schema = current_schema()"
            ))]
        for statement in statements:
            connection.exec_driver_sql(statement)


@pytest.fixture
def app(request, app_config, reused_apps):
    """This test's app: shared with the tests of the same settings (tests/reused_apps.py), or
    its own under ``@pytest.mark.own_app``."""
    app = create_app(app_config) if request.node.get_closest_marker("own_app") else reused_apps.app_for(app_config)
    with app.app_context():
        fresh_tables()
    yield app
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def worker(app, harness, temporal_env):
    """A real Temporal worker for this test's app, on its task queue."""
    with harness.worker(app, temporal_env.client) as running:
        yield running


@pytest.fixture
def fake_slack():
    slack = FakeSlack().start()
    yield slack
    slack.stop()


@pytest.fixture
def fake_discord():
    discord = FakeDiscord().start()
    yield discord
    discord.stop()


@pytest.fixture
def chat_config(app_config, fake_slack, fake_discord) -> dict:
    """Both bots configured, talking to the fakes (ask for it before ``app``)."""
    app_config.update(
        SLACK_BOT_TOKEN="xoxb-test", SLACK_SIGNING_SECRET=SIGNING_SECRET, SLACK_API_URL=fake_slack.api_url,
        DISCORD_BOT_TOKEN="discord-test-token", DISCORD_API_URL=fake_discord.api_url,
        DISCORD_GATEWAY_URL=fake_discord.gateway_url,
    )
    return app_config


@pytest.fixture
def client(app):
    return app.test_client()


def stored(app, row):
    """Commit ``row`` and hand it back detached, readable after its session is gone."""
    with app.app_context():
        db.session.add(row)
        db.session.commit()
        db.session.refresh(row)
        db.session.expunge(row)
        return row


@pytest.fixture
def make_user(app):
    def make(email: str | None = None, password: str = PASSWORD) -> User:
        user = User(email=email or f"{uuid.uuid4().hex[:8]}@example.com", display_name="Test")
        with app.app_context():
            user.set_password(password)
        return stored(app, user)

    return make


@pytest.fixture
def host(make_user):
    """The organizer most tests need; a module may define its own."""
    return make_user("host@example.com")


@pytest.fixture
def organizer(host, bearer):
    """The host's bearer headers."""
    return bearer(host)


@pytest.fixture
def bearer(app):
    """Authorization headers carrying a fresh token for a user."""

    def headers(user: User) -> dict:
        with app.app_context():
            token, _ = issue_token(user)
        return {"Authorization": f"Bearer {token}"}

    return headers


CSRF_META = re.compile(r'<meta name="csrf-token" content="([^"]+)"')


def csrf_token(client, path: str = "/") -> str:
    page = client.get(path).get_data(as_text=True)
    return CSRF_META.search(page).group(1)


@pytest.fixture
def login(client):
    """Sign a user in through the real login form."""

    def sign_in(user: User, password: str = PASSWORD):
        response = client.post(
            "/login",
            data={"email": user.email, "password": password, "csrf_token": csrf_token(client, "/login")},
        )
        assert response.status_code == 302, response.get_data(as_text=True)
        return response

    return sign_in


def pytest_configure(config):
    config.addinivalue_line("markers", "own_app: the test changes the app itself (adds a route), so it gets an app of its own")
    config.addinivalue_line("markers", "slow: takes 15 s or more (real timers and waits); collected first")
    # xdist's controller, before it starts its processes (they inherit the environment).
    if getattr(config.option, "numprocesses", None) and not hasattr(config, "workerinput"):
        harness = Harness()
        env = harness.start_dev_server()
        os.environ[SHARED_TEMPORAL] = env.client.service_client.config.target_host
        config.stash[_SHARED_SERVER] = (harness, env)


_SHARED_SERVER = pytest.StashKey[tuple]()


def pytest_unconfigure(config):
    if (shared := config.stash.get(_SHARED_SERVER, None)) is not None:
        harness, env = shared
        harness.run(env.shutdown())
        harness.close()


def is_postgres() -> bool:
    return bool(TEST_DATABASE_URL) and make_url(TEST_DATABASE_URL).get_backend_name() == "postgresql"


# A test of the fast workflow layer takes a second or two. On the time-skipping server one has
# hung under the suites' load (the webhook backoff test, twice: a CI run held to its limit, and
# a local run until the 240 s timeout, after which its rerun passed in 0.5 s); there it fails
# and is rerun after 30 s.
WORKFLOW_LAYER = Path(__file__).parent / "workflows"
WORKFLOW_TEST_TIMEOUT = 30


def pytest_collection_modifyitems(config, items):
    """The slow tests first, the rest in their order. xdist hands tests to its processes in
    collection order as each is free: the killed worker's test (23 s), collected near the end,
    ran alone while the other processes had finished, and the run ended 30 s after them."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)
    for item in items:
        if item.path.is_relative_to(WORKFLOW_LAYER):
            item.add_marker(pytest.mark.timeout(WORKFLOW_TEST_TIMEOUT))
