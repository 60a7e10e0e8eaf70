"""The Flask application factory."""
import logging
import os
from pathlib import Path

from flask import Flask

from ..config import Config
from ..models import db
from ..models.base import render_migration_item
from . import api as api_package
from . import account, auth, calendar, channels, chat, dev, events, filters, subscriptions
from .extensions import api, csrf, login_manager, migrate

ROOT = Path(__file__).resolve().parents[2]


def create_app(config: dict | None = None) -> Flask:
    app = Flask(
        "soonish",
        instance_path=str(ROOT / "instance"),
        template_folder=str(ROOT / "templates"),
        static_folder=str(ROOT / "static"),
    )
    app.config.from_object(Config)
    app.config.from_prefixed_env("SOONISH")
    if config:
        app.config.update(config)
    os.makedirs(app.instance_path, exist_ok=True)
    app.config["SQLALCHEMY_DATABASE_URI"] = (
        app.config["DATABASE_URL"] or f"sqlite:///{Path(app.instance_path) / 'soonish.sqlite'}"
    )
    logging.basicConfig(level=logging.INFO)

    db.init_app(app)
    migrate.init_app(
        app, db, directory=str(ROOT / "migrations"), render_as_batch=True,
        render_item=render_migration_item,
    )
    login_manager.init_app(app)
    csrf.init_app(app)
    api.init_app(app, spec_kwargs={"components": {"securitySchemes": {"bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}}}})
    app.before_request(auth.protect_cookie_requests)
    filters.register(app)

    for blueprint in (auth.bp, events.bp, subscriptions.bp, channels.bp, calendar.bp, account.bp, chat.bp, dev.bp):
        app.register_blueprint(blueprint)
    for blueprint in api_package.BLUEPRINTS:
        api.register_blueprint(blueprint)
    return app
