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
