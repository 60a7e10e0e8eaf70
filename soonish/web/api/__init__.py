"""The JSON API at /api/v1, documented at /api/v1/openapi.json."""
from soonish.web.limits import api_limit
from soonish.web.api import (
    account, api_keys, auth, channel_types, chat_accounts, communities, events, idempotency, integrations, mail_webhooks,
    push, rsvp, series, subscriptions,
    webhook_endpoints,
)

BLUEPRINTS = [auth.bp, events.bp, events.me_bp, integrations.bp, subscriptions.bp, account.bp, api_keys.bp,
              webhook_endpoints.bp, rsvp.bp, channel_types.bp, chat_accounts.bp, series.bp, mail_webhooks.bp,
              communities.bp, push.bp]
for blueprint in BLUEPRINTS:
    api_limit(blueprint)  # one budget per caller across the whole API
    idempotency.init_blueprint(blueprint)  # Idempotency-Key on every POST and PATCH
