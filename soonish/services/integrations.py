"""Integrations: a user's channels, each an Apprise URL stored encrypted and shown masked."""
import asyncio
import re
from pathlib import Path

from flask import current_app
from sqlalchemy import select

from ..crypto import FieldCipher
from ..delivery import (
    Courier, DeliveryFailed, Destination, MailSettings, Message, connect_host, mask_url, parse_apprise_url,
)
from ..models import Integration, User, db
from ..netguard import PrivateTargetRefused, check_host
from .channel_types import BY_KEY, build_url
from .errors import ValidationFailed, owned_or_missing

TAG_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}$")
# Longer than any channel's URL needs (Apprise's longest carry a few tokens), and what browsers
# and proxies reliably pass along.
URL_MAX = 2048
PORTS = range(1, 65536)


def cipher() -> FieldCipher:
    config = current_app.config
    return FieldCipher.from_setting(config["ENCRYPTION_KEYS"], config["SECRET_KEY"])


def mail_settings() -> MailSettings:
    return MailSettings.from_config(current_app.config, str(Path(current_app.instance_path) / "outbox"))


def _clean_tag(tag: str | None) -> str:
    tag = (tag or "").strip().lower()
    if tag and not TAG_PATTERN.match(tag):
        raise ValidationFailed.field("tag", "Use letters, digits, - or _ (up to 40), e.g. urgent.")
    return tag


def _clean_name(name: str | None) -> str:
    name = (name or "").strip()
    if not name or len(name) > 80:
        raise ValidationFailed.field("name", "Give the channel a name (up to 80 characters).")
    return name


def check_apprise_url(url: str) -> str:
    """The URL's mask if Apprise understands it and it points nowhere private; else a field error."""
    url = (url or "").strip()
    if len(url) > URL_MAX:
        raise ValidationFailed.field("url", f"That's longer than any channel URL needs ({URL_MAX:,} characters at most).")
    plugin = parse_apprise_url(url) if url else None
    if plugin is None:
        raise ValidationFailed.field(
            "url", "Apprise doesn't recognise this URL. Examples: mailto://user:pass@example.com, "
            "ntfy://topic, discord://webhook_id/token, json://example.com/hook."
        )
    port = getattr(plugin, "port", None)
    if port is not None and port not in PORTS:
        raise ValidationFailed.field("url", f"Port {port} doesn't exist; use 1 to 65535, or leave it out.")
    try:
        check_host(connect_host(plugin), bool(current_app.config["ALLOW_PRIVATE_TARGETS"]))
    except PrivateTargetRefused as exc:
        raise ValidationFailed.field("url", f"Refused: {exc}. Soonish only delivers to public hosts.") from exc
    return mask_url(url)


def _all_checked(*checks) -> list:
    """Each (check, value) checked; one error naming every bad field, so a form shows them all."""
    results, errors = [], {}
    for check, value in checks:
        try:
            results.append(check(value))
        except ValidationFailed as exc:
            errors.update(exc.fields)
    if errors:
        raise ValidationFailed("Some fields need attention.", errors)
    return results


def add_integration(user: User, name: str, url: str, tag: str = "") -> Integration:
    name, tag, mask = _all_checked((_clean_name, name), (_clean_tag, tag), (check_apprise_url, url))
    integration = Integration(
        user_id=user.id, name=name, tag=tag, url_mask=mask,
        apprise_url_encrypted=cipher().encrypt(url.strip()),
    )
    db.session.add(integration)
    db.session.commit()
    current_app.logger.info("integration added", extra={"integration_id": integration.id, "channel": integration.channel})
    return integration


def add_typed_integration(user: User, channel_type: str, fields: dict, name: str = "", tag: str = "") -> Integration:
    """A channel from the catalogue's form (services/channel_types.py): the server builds the
    Apprise URL from the fields, then it is checked and stored like any other."""
    try:
        url = build_url(channel_type, fields)
    except ValidationFailed as exc:
        errors = dict(exc.fields)
    else:
        errors = {}
    try:
        _all_checked((_clean_name, name or (BY_KEY[channel_type].label if channel_type in BY_KEY else "")),
                     (_clean_tag, tag))
    except ValidationFailed as exc:
        errors.update(exc.fields)
    if errors:
        raise ValidationFailed("Some fields need attention.", errors)
    try:
        check_apprise_url(url)
    except ValidationFailed as exc:
        # The built URL points somewhere refused (a private host): say which field holds it.
        raise ValidationFailed(exc.message, {f"fields.{_first_field(channel_type)}": exc.fields["url"]}) from exc
    return add_integration(user, name or BY_KEY[channel_type].label, url, tag)


def _first_field(channel_type: str) -> str:
    return BY_KEY[channel_type].fields[0].name


def list_integrations(user: User) -> list[Integration]:
    return list(db.session.scalars(select(Integration).where(Integration.user_id == user.id).order_by(Integration.id)))


def get_integration(user: User, integration_id: int) -> Integration:
    return owned_or_missing(db.session.get(Integration, integration_id), user, "channel")


def update_integration(user: User, integration_id: int, changes: dict) -> Integration:
    integration = get_integration(user, integration_id)
    if "name" in changes:
        integration.name = _clean_name(changes["name"])
    if "tag" in changes:
        integration.tag = _clean_tag(changes["tag"])
    if "is_active" in changes:
        integration.is_active = bool(changes["is_active"])
    if "url" in changes:
        integration.url_mask = check_apprise_url(changes["url"])
        integration.apprise_url_encrypted = cipher().encrypt(changes["url"].strip())
    db.session.commit()
    return integration


def delete_integration(user: User, integration_id: int) -> None:
    db.session.delete(get_integration(user, integration_id))
    db.session.commit()


def send_test(user: User, integration_id: int) -> str | None:
    """Deliver a test message now; None when it went out, else the reason it didn't."""
    integration = get_integration(user, integration_id)
    destination = Destination(apprise_url=cipher().decrypt(integration.apprise_url_encrypted))
    message = Message(
        delivery_key=f"soonish-test-{integration.id}",
        title="Soonish test message",
        text=f"This is a test from Soonish for your channel “{integration.name}”. It works!",
        short=f"This is a test from Soonish for your channel “{integration.name}”. It works!",
        notify_type="success",
    )

    async def deliver() -> None:
        async with Courier(mail_settings(), bool(current_app.config["ALLOW_PRIVATE_TARGETS"])) as courier:
            await courier.send(destination, message)

    try:
        asyncio.run(deliver())
    except DeliveryFailed as exc:
        return exc.reason
    return None


def rotate_encryption() -> int:
    """Re-encrypt every integration URL with the newest key; returns how many rows changed."""
    field_cipher = cipher()
    count = 0
    for integration in db.session.scalars(select(Integration)).yield_per(500):
        integration.apprise_url_encrypted = field_cipher.rotate(integration.apprise_url_encrypted)
        count += 1
    db.session.commit()
    return count
