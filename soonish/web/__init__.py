"""The Flask application factory."""
import os
from pathlib import Path

from flask import Flask
from flask.json.provider import DefaultJSONProvider
from werkzeug.middleware.proxy_fix import ProxyFix

from soonish import i18n
from soonish.config import ENV_PREFIX, Config, discord_install_url, keep_text_settings_text
from soonish.models import db
from soonish.models.base import SQLITE_BUSY_TIMEOUT, OneWriterAtATime, ping_when_idle, render_migration_item
from soonish.observability import configure_logging
from soonish.web import api as api_package
from soonish.web.api import access as api_access
from soonish.web import (
    account, account_settings, assets, auth, calendar, channels, chat, chat_signin, communities, converters, dev, errors,
    events, filters, integrator, limits, once, ops, push, replicas, request_bounds, rsvp, security, series, share,
    subscriptions,
)
from soonish.web.extensions import api, csrf, login_manager, migrate

ROOT = Path(__file__).resolve().parents[2]


class JSONProvider(DefaultJSONProvider):
    """Flask's, with a lazy translated string as its text (Flask's would take its HTML)."""

    @staticmethod
    def default(o):
        text = i18n.json_text(o)
        return text if text is not None else DefaultJSONProvider.default(o)


def create_app(config: dict | None = None) -> Flask:
    app = Flask(
        "soonish",
        instance_path=str(ROOT / "instance"),
        template_folder=str(ROOT / "templates"),
        static_folder=str(ROOT / "static"),
    )
    app.json = JSONProvider(app)
    # Before any route exists: every <int:...> in the app is bounded to a database id.
    app.url_map.converters["int"] = converters.DatabaseIdConverter
    app.url_map.converters["slug"] = converters.SlugConverter
    app.config.from_object(Config)
    app.config.from_prefixed_env(ENV_PREFIX.rstrip("_"))
    keep_text_settings_text(app.config)
    if config:
        app.config.update(config)
    app.config["DISCORD_INSTALL_URL"] = discord_install_url(app.config)
    os.makedirs(app.instance_path, exist_ok=True)
    app.config["SQLALCHEMY_DATABASE_URI"] = (
        app.config["DATABASE_URL"] or f"sqlite:///{Path(app.instance_path) / 'soonish.sqlite'}"
    )
    if app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite"):
        app.config["SQLALCHEMY_ENGINE_OPTIONS"] = {
            **app.config["SQLALCHEMY_ENGINE_OPTIONS"],
            "connect_args": {"factory": OneWriterAtATime, "timeout": SQLITE_BUSY_TIMEOUT},
        }
    configure_logging(app.config["LOG_LEVEL"])
    assets.init_app(app)  # wraps the WSGI app: static files are answered before Flask sees them
    if app.config["TRUSTED_PROXIES"]:
        hops = int(app.config["TRUSTED_PROXIES"])
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)

    db.init_app(app)
    with app.app_context():
        for engine in db.engines.values():
            ping_when_idle(engine)
    migrate.init_app(
        app, db, directory=str(ROOT / "migrations"), render_as_batch=True,
        render_item=render_migration_item,
    )
    ops.init_app(app)  # first: its request timer and id must exist before anything refuses
    replicas.init_app(app)  # before any hook that reads the database: which one this request reads
    # Before any hook reads the body (the CSRF check parses forms): a route's own body cap, and
    # bodies no parser should be handed.
    request_bounds.init_app(app)
    login_manager.init_app(app)
    csrf.init_app(app)
    limits.init_app(app)
    security.init_app(app)
    i18n.init_app(app)  # before anything renders: the reader's language
    errors.init_app(app)  # a ServiceError no view handles: the API's JSON problem, or a page
    api.init_app(app, spec_kwargs={"components": {"securitySchemes": api_access.SECURITY_SCHEMES},
                                   "info": {"description": api_access.API_RULES}})
    api.register_converter(converters.DatabaseIdConverter, converters.openapi_schema)
    api.register_converter(converters.SlugConverter, converters.slug_openapi_schema)
    app.before_request(auth.protect_cookie_requests)
    filters.register(app)
    app.jinja_env.globals["form_nonce"] = once.form_nonce

    for blueprint in (auth.bp, events.bp, subscriptions.bp, channels.bp, calendar.bp, account.bp, account_settings.bp,
                      chat.bp, chat_signin.bp, dev.bp, integrator.bp, rsvp.bp, share.bp, series.bp, communities.bp,
                      push.bp):
        app.register_blueprint(blueprint)
    for blueprint in api_package.BLUEPRINTS:
        api.register_blueprint(blueprint)
    return app
