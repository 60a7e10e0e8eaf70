"""Bounces and complaints coming in: a sending provider's webhooks (Amazon SES through SNS,
Postmark, Mailgun: read the body, verify the request as the provider documents; an unverified
request records nothing) and the reports mailed to `soonish mail-in`. Each records what it reports
(domain.provider_webhooks, domain.mail_reputation) and commits once."""
import json

from flask import current_app

from soonish.domain import mail_reputation, outbox
from soonish.domain import provider_webhooks as providers
from soonish.domain.bounces import BounceReport
from soonish.models import db
from soonish.services.errors import Forbidden, ValidationFailed
from soonish.i18n import _l


def _json(body: bytes) -> dict:
    try:
        payload = json.loads(body)
    except ValueError as exc:
        raise ValidationFailed.field("body", _l("The body is not JSON.")) from exc
    if not isinstance(payload, dict):
        raise ValidationFailed.field("body", _l("The body is not a JSON object."))
    return payload


def _verified(check) -> None:
    try:
        check()
    except providers.Refused as exc:
        raise Forbidden(f"Not a verified request: {exc}.") from exc


def _committed(recorded: mail_reputation.Recorded) -> mail_reputation.Recorded:
    """Commit what was recorded, with the reminder changes of the follows a complaint ended."""
    for event in recorded.unfollowed:
        outbox.reminders_changed(event)
    db.session.commit()
    return recorded


def take_mailed_report(report: BounceReport, recipients: list[str]) -> int:
    """A report mailed to the bounce domain (``recipients``: its envelope's); returns the bounces
    recorded."""
    return _committed(mail_reputation.take_report(report, recipients)).bounces


def take_ses(body: bytes) -> int:
    message = _json(body)
    _verified(lambda: providers.verify_sns(message))
    topics = [arn.strip() for arn in current_app.config["SES_SNS_TOPIC_ARNS"].split(",") if arn.strip()]
    bounces: list = []
    _verified(lambda: bounces.extend(providers.ses_bounces(message, topics)))
    return _committed(mail_reputation.record_reported(bounces)).suppressed


def take_postmark(authorization: str | None, body: bytes) -> int:
    config = current_app.config
    _verified(lambda: providers.verify_postmark(authorization, config["POSTMARK_WEBHOOK_USER"],
                                                config["POSTMARK_WEBHOOK_PASSWORD"]))
    return _committed(mail_reputation.record_reported(providers.postmark_bounces(_json(body)))).suppressed


def take_mailgun(body: bytes) -> int:
    payload = _json(body)
    _verified(lambda: providers.verify_mailgun(payload, current_app.config["MAILGUN_WEBHOOK_SIGNING_KEY"]))
    return _committed(mail_reputation.record_reported(providers.mailgun_bounces(payload))).suppressed
