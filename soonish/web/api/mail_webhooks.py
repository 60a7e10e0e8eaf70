"""Where sending providers post bounces and complaints: Amazon SES (through SNS), Postmark,
Mailgun. Each request proves itself as its provider documents (a signature, or the credentials
set in the webhook's URL), not with a Soonish key: a refused one is 403 and records nothing."""
from flask import request
from marshmallow import Schema, fields

from soonish.services import mail_webhooks
from soonish.services.errors import ServiceError
from soonish.web.auth import csrf_exempt
from soonish.web.api.base import ApiBlueprint, service_error_response

bp = ApiBlueprint("api_mail_webhooks", __name__, url_prefix="/api/v1/mail-webhooks",
                  description="Bounces and complaints from sending providers")
bp.register_error_handler(ServiceError, service_error_response)


class TakenOut(Schema):
    suppressed = fields.Integer(metadata={"description": "Addresses this request put on the suppression list"})


@bp.post("/ses", response=TakenOut, errors=[403, 422])
@csrf_exempt
def ses():
    """An Amazon SNS message (subscribe this URL to the topics of SES's bounce and complaint
    notifications). Its signature is checked with the certificate at `SigningCertURL`, which must
    be https on `sns.<region>.amazonaws.com` (SignatureVersion 1: SHA1withRSA, 2: SHA256withRSA);
    a SubscriptionConfirmation is confirmed. Only SOONISH_SES_SNS_TOPIC_ARNS, when set."""
    return {"suppressed": mail_webhooks.take_ses(request.get_data())}


@bp.post("/postmark", response=TakenOut, errors=[403, 422])
@csrf_exempt
def postmark():
    """Postmark's Bounce and SpamComplaint webhooks, with the Basic credentials
    SOONISH_POSTMARK_WEBHOOK_USER/PASSWORD set in the webhook's URL (https://user:pass@host/...)."""
    return {"suppressed": mail_webhooks.take_postmark(request.headers.get("Authorization"), request.get_data())}


@bp.post("/mailgun", response=TakenOut, errors=[403, 422])
@csrf_exempt
def mailgun():
    """Mailgun's `failed` and `complained` webhooks, signed with SOONISH_MAILGUN_WEBHOOK_SIGNING_KEY
    (HMAC-SHA256 of timestamp and token; at most 5 minutes old, each token once)."""
    return {"suppressed": mail_webhooks.take_mailgun(request.get_data())}
