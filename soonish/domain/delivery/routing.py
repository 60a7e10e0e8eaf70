"""Resolves a subscription's selectors to the targets a message goes to.

Shared by the delivery activities and the services (to preview and validate routes).
A target string names a destination without any secret: it is the deliveries ledger key.
"""
from dataclasses import dataclass

from soonish.models import ChatIdentity, Integration, Subscription


@dataclass(frozen=True)
class Target:
    key: str  # "integration:12", "email:a@b.c", "slack:T1:U2" (a DM) or "slack:T1:#C3" (a channel)
    channel: str  # kind of channel, for stats: "webhook", "email", "ntfy", "slack", ...
    integration_id: int | None = None
    email: str | None = None
    chat_identity_id: int | None = None


def integration_target(integration: Integration) -> Target:
    return Target(
        key=f"integration:{integration.id}",
        channel=integration.channel,
        integration_id=integration.id,
    )


def email_target(address: str) -> Target:
    return Target(key=f"email:{address}", channel="email", email=address)


def chat_target(identity: ChatIdentity) -> Target:
    """A person's DM, or a channel (marked with #: Discord's user and channel ids look alike)."""
    recipient = f"#{identity.external_user_id}" if identity.is_channel else identity.external_user_id
    return Target(
        key=f"{identity.platform}:{identity.workspace_id}:{recipient}",
        channel=identity.platform,
        chat_identity_id=identity.id,
    )


def targets_for(subscription: Subscription, integrations: list[Integration]) -> list[Target]:
    """Where ``subscription``'s messages go, given its user's integrations.

    No selectors means the default channel: the user's own email address.
    Selectors pick integrations by id or by tag (paused ones, and email channels still waiting
    for their verification link, are skipped) and chat
    identities of the same user (a DM or a channel).
    """
    if not subscription.selectors:
        email = subscription.user.email
        return [email_target(email)] if email else []
    active = [i for i in integrations if i.delivers and i.user_id == subscription.user_id]
    chosen: dict[int, Integration] = {}
    chats: dict[int, ChatIdentity] = {}
    for selector in subscription.selectors:
        identity = selector.chat_identity
        if identity is not None and identity.user_id == subscription.user_id:
            chats[identity.id] = identity
        for integration in active:
            if integration.id == selector.integration_id or (
                selector.tag is not None and integration.tag == selector.tag
            ):
                chosen[integration.id] = integration
    return [integration_target(i) for i in sorted(chosen.values(), key=lambda i: i.id)] + [
        chat_target(c) for c in sorted(chats.values(), key=lambda c: c.id)
    ]
