"""The migrations build the schema the models describe, on SQLite and PostgreSQL."""
import json
import uuid

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import upgrade
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.engine import make_url

from soonish.models import db
from soonish.web import create_app

from .conftest import is_postgres

EXPECTED_TABLES = {
    "chat_installations", "oauth_states",
    "users", "chat_identities", "events", "integrations", "subscriptions",
    "subscription_selectors", "notifications", "deliveries", "delivery_tallies", "alembic_version",
    "idempotency_records", "api_keys", "webhook_endpoints", "webhook_messages", "webhook_attempts",
    "rsvps", "pending_chat_actions",
    "outbox", "event_covers", "chat_connect_codes", "series", "series_follows",
    "communities", "community_members", "community_audit", "community_invites",
}


@pytest.fixture
def empty_database_url(tmp_path, postgres_url):
    """An empty database: a new SQLite file, or a new PostgreSQL schema dropped afterwards."""
    if not is_postgres():
        yield f"sqlite:///{tmp_path / 'empty.sqlite'}"
        return
    schema = f"migration_{uuid.uuid4().hex[:8]}"
    engine = create_engine(postgres_url)
    with engine.begin() as conn:
        conn.execute(text(f"CREATE SCHEMA {schema}"))
    url = make_url(postgres_url).update_query_dict({"options": f"-csearch_path={schema}"})
    yield url.render_as_string(hide_password=False)
    with engine.begin() as conn:
        conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
    engine.dispose()


def test_upgrade_builds_the_models_schema_on_an_empty_database(empty_database_url):
    app = create_app({"TESTING": True, "DATABASE_URL": empty_database_url})
    with app.app_context():
        upgrade()
        assert EXPECTED_TABLES <= set(inspect(db.engine).get_table_names())
        with db.engine.connect() as conn:
            differences = compare_metadata(MigrationContext.configure(conn), db.metadata)
        assert differences == [], f"models and migrations differ: {differences}"
        db.engine.dispose()


def test_answers_kept_with_secrets_or_refusals_go_at_h18idem01(empty_database_url):
    """Answers kept before issue 22 may hold a secret or a refusal; the migration drops those."""
    app = create_app({"TESTING": True, "DATABASE_URL": empty_database_url})
    kept = [
        (201, '{"id":1,"key":"sk_live123","name":"CI"}'), (201, '{"id":2,"secret":"whsec_abc"}'),
        (200, '{"access_token":"eyJ...","token_type":"Bearer"}'), (422, '{"error":{"code":"validation_error"}}'),
        (201, '{"id":3,"title":"Launch"}'), (None, None),
    ]
    with app.app_context():
        upgrade(revision="h14ledger01")
        with db.engine.begin() as conn:
            for i, (status, body) in enumerate(kept):
                conn.execute(text("INSERT INTO idempotency_records (caller, key, fingerprint, status, response_body, "
                                  "created_at) VALUES ('user:1', :key, 'f', :status, :body, CURRENT_TIMESTAMP)"),
                             {"key": f"k{i}", "status": status, "body": body})
        upgrade()
        with db.engine.connect() as conn:
            rows = conn.execute(text("SELECT key, response_headers FROM idempotency_records ORDER BY key")).all()
        db.engine.dispose()
    assert [(key, headers if isinstance(headers, dict) or headers is None else json.loads(headers))
            for key, headers in rows] == [("k4", {"Content-Type": "application/json"}), ("k5", None)]


def test_every_organizer_gets_a_personal_community_owning_their_events_at_h25comm01(empty_database_url):
    """Issue 25: nothing moves for organizers from before communities. Each gets a community
    named after them, owned by them, holding their events and series; a follower gets none."""
    app = create_app({"TESTING": True, "DATABASE_URL": empty_database_url})
    with app.app_context():
        upgrade(revision="h19chat01")
        with db.engine.begin() as conn:
            for user_id, name in ((1, "Ada's Book Club"), (2, ""), (3, "Follower")):
                conn.execute(text("INSERT INTO users (id, email, display_name, is_verified, token_epoch, email_fallback, "
                                  "created_at) VALUES (:id, :email, :name, true, 0, true, CURRENT_TIMESTAMP)"),
                             {"id": user_id, "email": f"u{user_id}@example.com", "name": name})
            for event_id, organizer in ((1, 1), (2, 1), (3, 2)):
                conn.execute(text("INSERT INTO events (id, slug, organizer_id, title, description, location, online_url, "
                                  "show_follower_count, starts_at, timezone, visibility, status, version, rsvp_enabled, "
                                  "occurrence_overridden, still_coming_check, still_coming_hours, created_at, updated_at) "
                                  "VALUES (:id, :slug, :organizer, 'T', '', '', '', true, CURRENT_TIMESTAMP, 'UTC', "
                                  "'public', 'scheduled', 1, true, false, false, 24, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"),
                             {"id": event_id, "slug": f"e-{event_id}", "organizer": organizer})
            conn.execute(text("INSERT INTO series (id, slug, organizer_id, title, description, location, online_url, "
                              "visibility, timezone, starts_at, rrule, status, created_at, updated_at) VALUES (1, 's-1', 2, "
                              "'S', '', '', '', 'public', 'UTC', CURRENT_TIMESTAMP, 'FREQ=WEEKLY;COUNT=3', 'active', "
                              "CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"))
        upgrade()
        with db.engine.connect() as conn:
            communities = conn.execute(text("SELECT personal_of_id, slug, name FROM communities ORDER BY personal_of_id")).all()
            members = conn.execute(text("SELECT c.personal_of_id, m.user_id, m.role FROM community_members m "
                                        "JOIN communities c ON c.id = m.community_id ORDER BY m.user_id")).all()
            events = conn.execute(text("SELECT e.id, c.personal_of_id FROM events e JOIN communities c "
                                       "ON c.id = e.community_id ORDER BY e.id")).all()
            series = conn.execute(text("SELECT s.id, c.personal_of_id FROM series s JOIN communities c "
                                       "ON c.id = s.community_id")).all()
        db.engine.dispose()
    assert [tuple(row) for row in communities] == [(1, "ada-s-book-club-1", "Ada's Book Club"), (2, "host-2", "Host 2")]
    assert [tuple(row) for row in members] == [(1, 1, "owner"), (2, 2, "owner")]
    assert [tuple(row) for row in events] == [(1, 1), (2, 1), (3, 2)]
    assert [tuple(row) for row in series] == [(1, 2)]
