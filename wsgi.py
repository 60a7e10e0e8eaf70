"""WSGI entry point: `gunicorn wsgi:app`."""
from soonish.web import create_app

app = create_app()
