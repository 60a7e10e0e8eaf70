"""The JSON API at /api/v1, documented at /api/v1/openapi.json."""
from ..limits import api_limit
from . import auth, channel_types, events, integrations, subscriptions

BLUEPRINTS = [auth.bp, events.bp, integrations.bp, subscriptions.bp, channel_types.bp]
for blueprint in BLUEPRINTS:
    api_limit(blueprint)  # one budget per caller across the whole API
