"""A sending provider's bounce and complaint webhooks (Amazon SES through SNS, Postmark, Mailgun):
read the body, verify the request as the provider documents, record what it reports
(domain.provider_webhooks, domain.mail_reputation). An unverified request records nothing."""
import json

from flask import current_app

from soonish.domain import mail_reputation
from soonish.domain import provider_webhooks as providers
from soonish.services.errors import Forbidden, ValidationFailed


def _json(body: bytes) -> dict:
    try:
        payload = json.loads(body)
    except ValueError as exc:
        raise ValidationFailed.field("body", "The body is not JSON.") from exc
    if not isinstance(payload, dict):
        raise ValidationFailed.field("body", "The body is not a JSON object.")
    return payload


def _verified(check) -> None:
    try:
        check()
    except providers.Refused as exc:
        raise Forbidden(f"Not a verified request: {exc}.") from exc


def take_ses(body: bytes) -> int:
    message = _json(body)
    _verified(lambda: providers.verify_sns(message))
    topics = [arn.strip() for arn in current_app.config["SES_SNS_TOPIC_ARNS"].split(",") if arn.strip()]
    bounces: list = []
    _verified(lambda: bounces.extend(providers.ses_bounces(message, topics)))
    return mail_reputation.record_reported(bounces)


def take_postmark(authorization: str | None, body: bytes) -> int:
    config = current_app.config
    _verified(lambda: providers.verify_postmark(authorization, config["POSTMARK_WEBHOOK_USER"],
                                                config["POSTMARK_WEBHOOK_PASSWORD"]))
    return mail_reputation.record_reported(providers.postmark_bounces(_json(body)))


def take_mailgun(body: bytes) -> int:
    payload = _json(body)
    _verified(lambda: providers.verify_mailgun(payload, current_app.config["MAILGUN_WEBHOOK_SIGNING_KEY"]))
    return mail_reputation.record_reported(providers.mailgun_bounces(payload))
