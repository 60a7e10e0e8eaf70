"""WSGI entry point: `gunicorn wsgi:app`."""
from soonish.web import create_app
from soonish.web.security import refuse_default_secret_key

app = create_app()
refuse_default_secret_key(app.config)
