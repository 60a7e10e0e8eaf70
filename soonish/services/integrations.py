"""Integrations: a user's channels, each an Apprise URL stored encrypted and shown masked, or
another email address of theirs that receives nothing until it has opened a verification link."""
import asyncio
import math
import re
import secrets
from dataclasses import dataclass
from pathlib import Path

from flask import current_app
from sqlalchemy import select

from soonish.crypto import FieldCipher
from soonish.domain.delivery import (
    Courier, Destination, Failed, MailSettings, Message, Outcome, PushSettings, RetryAfter, Sent, connect_host, mask_url,
    parse_apprise_url,
)
from soonish.domain.delivery.mail import OneOffKind
from soonish.domain.delivery.planning import integration_destination
from soonish.field_limits import CHANNEL_URL_MAX
from soonish.links import LinkPurpose, carries_address, unsign
from soonish.models import Integration, User, db, utcnow
from soonish.netguard import PrivateTargetRefused, check_host
from soonish.services.channel_types import BY_KEY, EMAIL, build_url, clean_fields
from soonish.services.errors import Conflict, NotFound, TooSoon, ValidationFailed, owned_or_missing, reading_link
from soonish.domain import outbox
from soonish.i18n import _, _l, current_locale, format_number

TAG_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}$")
PORTS = range(1, 65536)


def cipher() -> FieldCipher:
    config = current_app.config
    return FieldCipher.from_setting(config["ENCRYPTION_KEYS"], config["SECRET_KEY"])


def mail_settings() -> MailSettings:
    return MailSettings.from_config(current_app.config, str(Path(current_app.instance_path) / "outbox"))


def _clean_tag(tag: str | None) -> str:
    tag = (tag or "").strip().lower()
    if tag and not TAG_PATTERN.match(tag):
        raise ValidationFailed.field("tag", _l("Use letters, digits, - or _ (up to 40), e.g. urgent."))
    return tag


def _clean_name(name: str | None) -> str:
    name = (name or "").strip()
    if not name or len(name) > 80:
        raise ValidationFailed.field("name", _l("Give the channel a name (up to 80 characters)."))
    return name


def check_apprise_url(url: str) -> str:
    """The URL's mask if Apprise understands it and it points nowhere private; else a field error."""
    url = (url or "").strip()
    if len(url) > CHANNEL_URL_MAX:
        raise ValidationFailed.field("url", _l("That's longer than any channel URL needs (%(count)s characters at most).",
                                                   count=format_number(CHANNEL_URL_MAX)))
    plugin = parse_apprise_url(url) if url else None
    if plugin is None:
        raise ValidationFailed.field(
            "url", _l("Apprise doesn't recognise this URL. Examples: mailto://user:pass@example.com, "
                      "ntfy://topic, discord://webhook_id/token, json://example.com/hook.")
        )
    port = getattr(plugin, "port", None)
    if port is not None and port not in PORTS:
        raise ValidationFailed.field("url", _l("Port %(port)s doesn't exist; use 1 to 65535, or leave it out.", port=port))
    try:
        check_host(connect_host(plugin), bool(current_app.config["ALLOW_PRIVATE_TARGETS"]))
    except PrivateTargetRefused as exc:
        raise ValidationFailed.field("url", _l("Refused: %(reason)s. Soonish only delivers to public hosts.", reason=exc)) from exc
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
        raise ValidationFailed(_l("Some fields need attention."), errors)
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


def add_typed_integration(user: User, channel_type: str, fields: dict, name: str = "", tag: str = "",
                          test_first: bool = False) -> Integration:
    """A channel from the catalogue's form (services/channel_types.py): the server builds the
    Apprise URL from the fields, then it is checked and stored like any other. An email channel
    is stored with its address and mailed a verification link. ``test_first`` (the page's
    form): a test message goes out first, and the channel is saved only if it went through."""
    try:
        if channel_type == EMAIL.key:
            address = clean_fields(channel_type, fields)["address"]
        else:
            url = build_url(channel_type, fields)
    except ValidationFailed as exc:
        errors = dict(exc.fields)
    else:
        errors = {}
    # Without a name, the type's label in the adder's language names it (stored as text).
    name = name or (str(BY_KEY[channel_type].label) if channel_type in BY_KEY else "")
    try:
        _all_checked((_clean_name, name),
                     (_clean_tag, tag))
    except ValidationFailed as exc:
        errors.update(exc.fields)
    if errors:
        raise ValidationFailed(_l("Some fields need attention."), errors)
    if channel_type == EMAIL.key:
        return _add_email_channel(user, name, address, tag)
    try:
        check_apprise_url(url)
    except ValidationFailed as exc:
        # The built URL points somewhere refused (a private host): say which field holds it.
        raise ValidationFailed(exc.message, {f"fields.{_first_field(channel_type)}": exc.fields["url"]}) from exc
    # Saved only once a test went through: a channel that can't deliver is no channel, and the
    # person keeps what they typed to correct it.
    failed = test_first and _deliver_test(Destination(apprise_url=url), name,
                           "soonish-test-" + secrets.token_hex(8))
    if failed:
        label = BY_KEY[channel_type].label
        why = (_l("couldn't reach %(service)s from the server, try again", service=label) if getattr(failed, "http_status", None) is None
               else _l("%(service)s didn't accept that %(field)s", service=label, field=_first_label(channel_type)))
        raise ValidationFailed(why, {f"fields.{_first_field(channel_type)}": [str(why)]})
    return add_integration(user, name, url, tag)


def _add_email_channel(user: User, name: str, address: str, tag: str) -> Integration:
    problem = None
    mine = list_integrations(user)
    if address == user.email:
        problem = _l("That's your account's address: what you follow reaches it already.")
    elif any(i.email_address == address for i in mine):
        problem = _l("This address is already one of your channels.")
    elif sum(i.awaiting_verification for i in mine) >= current_app.config["EMAIL_CHANNELS_WAITING_MAX"]:
        problem = _l("Some of your addresses still wait for their link: verify or remove those first.")
    if problem:
        raise ValidationFailed.field(f"fields.{EMAIL.fields[0].name}", problem)
    integration = Integration(user_id=user.id, name=name, tag=tag, url_mask=f"mailto://{address.rsplit('@', 1)[1]}",
                              email_address=address, verification_sent_at=utcnow())
    db.session.add(integration)
    db.session.flush()
    _mail_verification(integration)
    db.session.commit()
    current_app.logger.info("integration added", extra={"integration_id": integration.id, "channel": integration.channel})
    return integration


def _mail_verification(integration: Integration) -> None:
    outbox.one_off_mail(OneOffKind.VERIFY_CHANNEL, integration.id)


def resend_verification(user: User, integration_id: int) -> Integration:
    """Mail an email channel's verification link again, at most once every
    EMAIL_CHANNEL_RESEND_SECONDS."""
    integration = get_integration(user, integration_id)
    if not integration.awaiting_verification:
        raise Conflict(_l("This channel needs no verification link.") if integration.email_address is None
                       else _l("This address is verified already."))
    interval = current_app.config["EMAIL_CHANNEL_RESEND_SECONDS"]
    waited = (utcnow() - integration.verification_sent_at).total_seconds()
    if waited < interval:
        wait = math.ceil(interval - waited)
        raise TooSoon(_l("We mailed a link %(ago)s min ago; ask again in %(left)s min (check the spam folder "
                         "meanwhile).", ago=int(waited // 60), left=math.ceil(wait / 60)), wait)
    integration.verification_sent_at = utcnow()
    _mail_verification(integration)
    db.session.commit()
    return integration


@dataclass
class ChannelVerification:
    integration: Integration
    done: bool  # the address is verified already


def channel_verification(token: str) -> ChannelVerification:
    """What a verification link is about; opening it changes nothing (mail scanners open links)."""
    secret = current_app.config["SECRET_KEY"]
    with reading_link(_l("This link has expired; ask for a new one on your Channels page.")):
        integration_id, address = unsign(secret, LinkPurpose.VERIFY_CHANNEL, token,
                                         current_app.config["EMAIL_CHANNEL_LINK_MAX_AGE"])
    integration = db.session.get(Integration, integration_id)
    # The address (its tag) in the link: an id freed by a removed channel may name a new one.
    if integration is None or not carries_address(secret, str(address), integration.email_address):
        raise NotFound(_l("This channel was removed; nothing will be sent to this address."))
    return ChannelVerification(integration, done=not integration.awaiting_verification)


def verify_email_channel(token: str) -> Integration:
    """The address confirms it wants the updates: from now on the channel receives them. Once
    done, the link changes nothing more."""
    verification = channel_verification(token)
    if verification.done:
        raise Conflict(_l("This address is verified already; the link can't be used again."))
    verification.integration.email_verified_at = utcnow()
    db.session.commit()
    return verification.integration


def _first_field(channel_type: str) -> str:
    return BY_KEY[channel_type].fields[0].name


def _first_label(channel_type: str) -> str:
    """The first field's label as said mid-sentence: "bot token", "webhook URL"."""
    label = BY_KEY[channel_type].fields[0].label
    return label[:1].lower() + label[1:]


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
    if "url" in changes and (integration.email_address is not None or integration.is_push):
        raise ValidationFailed.field("url", _l("This channel has no Apprise URL: remove it and add the channel you want."))
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
    if integration.awaiting_verification:
        return _("This address isn't verified yet: open the link we mailed to it.")
    failed = _deliver_test(integration_destination(integration, cipher()), integration.name,
                           f"soonish-test-{integration.id}")
    return None if failed is None else failed.reason


def _deliver_test(destination: Destination, name: str, key: str) -> Failed | RetryAfter | None:
    """Deliver a test message to ``destination`` now, in the language of whoever asked for it
    (a device's test push reads like its notifications will); None when it went out."""
    text = _("This is a test from Soonish for your channel “%(name)s”. It works!", name=name)
    message = Message(delivery_key=key, title=_("Soonish test message"), text=text, short=text,
                      notify_type="success", locale=current_locale())

    async def deliver() -> Outcome:
        async with Courier(mail_settings(), bool(current_app.config["ALLOW_PRIVATE_TARGETS"]),
                           push=PushSettings.from_config(current_app.config)) as courier:
            return await courier.deliver(destination, message)

    outcome = asyncio.run(deliver())
    return None if isinstance(outcome, Sent) else outcome


def rotate_encryption() -> int:
    """Re-encrypt every integration URL and device subscription with the newest key; returns
    how many rows changed."""
    field_cipher = cipher()
    count = 0
    query = select(Integration).where(Integration.apprise_url_encrypted.is_not(None)
                                      | Integration.push_subscription_encrypted.is_not(None))
    for integration in db.session.scalars(query).yield_per(500):
        if integration.apprise_url_encrypted is not None:
            integration.apprise_url_encrypted = field_cipher.rotate(integration.apprise_url_encrypted)
        else:
            integration.push_subscription_encrypted = field_cipher.rotate(integration.push_subscription_encrypted)
        count += 1
    db.session.commit()
    return count
