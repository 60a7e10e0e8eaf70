"""Resolves a subscription's selectors to the targets a message goes to.

Shared by the delivery activities and the services (to preview and validate routes).
A target string names a destination without any secret: it is the deliveries ledger key.
"""
from dataclasses import dataclass

from .models import Integration, Subscription


@dataclass(frozen=True)
class Target:
    key: str  # "integration:12" or "email:a@b.c"
    channel: str  # kind of channel, for stats: "webhook", "email", "ntfy", ...
    integration_id: int | None = None
    email: str | None = None


def integration_target(integration: Integration) -> Target:
    return Target(
        key=f"integration:{integration.id}",
        channel=integration.channel,
        integration_id=integration.id,
    )


def email_target(address: str) -> Target:
    return Target(key=f"email:{address}", channel="email", email=address)


def targets_for(subscription: Subscription, integrations: list[Integration]) -> list[Target]:
    """Where ``subscription``'s messages go, given its user's integrations.

    No selectors means the default channel: the user's own email address.
    Selectors pick integrations by id or by tag; inactive integrations are skipped.
    """
    if not subscription.selectors:
        email = subscription.user.email
        return [email_target(email)] if email else []
    active = [i for i in integrations if i.is_active and i.user_id == subscription.user_id]
    chosen: dict[int, Integration] = {}
    for selector in subscription.selectors:
        for integration in active:
            if integration.id == selector.integration_id or (
                selector.tag is not None and integration.tag == selector.tag
            ):
                chosen[integration.id] = integration
    return [integration_target(i) for i in sorted(chosen.values(), key=lambda i: i.id)]
