"""One app per configuration in a test process, put back in order before each test.

Building the app took 0.2-0.5 s of CPU, a third of the suite's: werkzeug compiles every URL
rule into Python code and flask-smorest builds the OpenAPI document, and each app compiles its
own templates again. Most tests ask for the same settings, so they share one app. Between tests
everything a test may leave in it is put back: its settings (``app.config``), what the app made
at first use (``app.extensions``: the Temporal gateway, readiness checks, the Slack handler, the
anonymous event pages kept by web/anonymous_page.py), the
rate limiter's counters, the log handler (bound to the test's captured stderr), and the
process-wide extension objects that the newest ``create_app`` points at its own app.

A test's own Temporal task queue and id prefix, and the addresses of the fakes it started (each
test's Slack and Discord on ports of their own), are not part of the configuration: they change
on the shared app, which reads them when it uses them. With the fakes' addresses in the key,
each chat test built an app of its own: about 50 of the 89 apps a suite's processes built.

A test that changes the app itself (adds a route) asks for an app of its own with
``@pytest.mark.own_app``; Flask refuses such a change on an app that has served a request, so
one that forgets fails loudly instead of leaking.
"""
from collections import OrderedDict

from flask import Flask

from soonish.models import db
from soonish.observability import configure_logging
from soonish.web import create_app
from soonish.web.extensions import api
from soonish.web.limits import limiter

# Settings each test gets anew: its own queue and workflow ids on the shared Temporal server, and
# where its fakes listen (nothing the app builds at its creation holds them).
PER_TEST_SETTINGS = frozenset({
    "TEMPORAL_TASK_QUEUE", "TEMPORAL_ID_PREFIX", "SMTP_PORT",
    "SLACK_API_URL", "SLACK_AUTHORIZE_URL", "SLACK_OIDC_AUTHORIZE_URL",
    "DISCORD_API_URL", "DISCORD_GATEWAY_URL", "DISCORD_OAUTH_AUTHORIZE_URL",
})
# Apps kept at once: tests asking for settings of their own (fakes on their own ports) make
# apps that are rarely asked for again.
KEPT = 6


class ReusableApp:
    def __init__(self, config: dict) -> None:
        self.app = create_app(config)
        self._config = dict(self.app.config)
        self._extensions = set(self.app.extensions)
        self._api_state = dict(vars(api))

    def reset(self, config: dict) -> Flask:
        app = self.app
        app.config.clear()
        app.config.update(self._config)
        app.config.update({name: config[name] for name in PER_TEST_SETTINGS if name in config})
        for name in set(app.extensions) - self._extensions:
            del app.extensions[name]
        vars(api).clear()
        vars(api).update(self._api_state)
        # Points the process-wide limiter back at this app's settings with empty counters; it
        # adds its request hooks to an app once.
        limiter.init_app(app)
        configure_logging(app.config["LOG_LEVEL"])
        return app


class ReusedApps:
    def __init__(self) -> None:
        self._apps: OrderedDict[str, ReusableApp] = OrderedDict()

    def app_for(self, config: dict) -> Flask:
        key = repr(sorted((name, value) for name, value in config.items() if name not in PER_TEST_SETTINGS))
        reusable = self._apps.pop(key, None) or ReusableApp(config)
        self._apps[key] = reusable
        while len(self._apps) > KEPT:
            _key, evicted = self._apps.popitem(last=False)
            with evicted.app.app_context():
                db.engine.dispose()
        return reusable.reset(config)
