"""The JSON API at /api/v1, documented at /api/v1/openapi.json."""
from . import auth, events, integrations, subscriptions

BLUEPRINTS = [auth.bp, events.bp, integrations.bp, subscriptions.bp]
