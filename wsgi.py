"""WSGI entry point: `gunicorn wsgi:app`."""
from soonish.web import create_app
from soonish.web.limits import warn_if_counted_per_process
from soonish.web.security import refuse_default_secret_key

app = create_app()
refuse_default_secret_key(app.config)
warn_if_counted_per_process(app.config)
