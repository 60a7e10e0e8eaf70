"""Sending providers' bounce and complaint webhooks, each signed as its provider documents (we
cannot reach SES, Postmark or Mailgun: their requests are built here as their docs describe
them, signed with keys the test holds). A request unsigned or badly signed is refused (403) and
records nothing; a verified one suppresses as a mailed DSN would."""
import base64
import hashlib
import hmac
import json
import time
import uuid
from datetime import datetime, timedelta, timezone

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID

from soonish.domain import mail_reputation, provider_webhooks
from soonish.models import BounceKind, MailBounce, SuppressedAddress, db

CERT_URL = "https://sns.eu-west-1.amazonaws.com/SimpleNotificationService-9c6465fa7f48f5cacd23014631ec1136.pem"
TOPIC = "arn:aws:sns:eu-west-1:123456789012:ses-bounces"


@pytest.fixture(scope="module")
def sns_key():
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sns.amazonaws.com")])
    now = datetime.now(timezone.utc)
    certificate = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
                   .serial_number(x509.random_serial_number()).not_valid_before(now - timedelta(days=1))
                   .not_valid_after(now + timedelta(days=30)).sign(key, hashes.SHA256()))
    # SNS's certificate, as if fetched once from its URL (the fetch needs AWS itself).
    provider_webhooks.SNS_CERTIFICATES.keep(CERT_URL, certificate)
    return key


@pytest.fixture
def client(domain_app):
    domain_app.config.update(POSTMARK_WEBHOOK_USER="postmark", POSTMARK_WEBHOOK_PASSWORD="s3cret-in-the-url",
                             MAILGUN_WEBHOOK_SIGNING_KEY="key-mailgun-signing", SES_SNS_TOPIC_ARNS=TOPIC)
    return domain_app.test_client()


def sns_message(key, event: dict, version: str = "1", **changes) -> dict:
    message = {
        "Type": "Notification", "MessageId": str(uuid.uuid4()), "TopicArn": TOPIC,
        "Message": json.dumps(event), "Timestamp": "2024-12-03T18:00:03.000Z",
        "SignatureVersion": version, "SigningCertURL": CERT_URL,
        "UnsubscribeURL": "https://sns.eu-west-1.amazonaws.com/?Action=Unsubscribe",
    }
    digest = hashes.SHA1() if version == "1" else hashes.SHA256()
    signed = key.sign(provider_webhooks.sns_string_to_sign(message), padding.PKCS1v15(), digest)
    message["Signature"] = base64.b64encode(signed).decode()
    message.update(changes)
    return message


def ses_bounce(address: str, bounce_type: str = "Permanent") -> dict:
    # Amazon SES's bounce notification (its documented "Bounce" notification contents).
    return {
        "notificationType": "Bounce",
        "bounce": {"bounceType": bounce_type, "bounceSubType": "General", "timestamp": "2024-12-03T18:00:02.000Z",
                   "feedbackId": "0102019390a1b2c3-aaaa-000000", "reportingMTA": "dns; a27-30.smtp-out.amazonses.com",
                   "bouncedRecipients": [{"emailAddress": address, "action": "failed", "status": "5.1.1",
                                          "diagnosticCode": f"smtp; 550 5.1.1 <{address}>: user unknown"}]},
        "mail": {"timestamp": "2024-12-03T18:00:01.000Z", "source": "no-reply@soonish.test",
                 "messageId": "0102019390a1b2c3-d4e5", "destination": [address],
                 "headers": [{"name": "X-Soonish-Delivery", "value": "soonish-99"}]},
    }


def suppressed() -> set[str]:
    return {s.masked for s in db.session.query(SuppressedAddress)}


@pytest.mark.parametrize("version", ["1", "2"])
def test_a_signed_ses_bounce_suppresses_with_either_signature_version(client, sns_key, version):
    answer = client.post("/api/v1/mail-webhooks/ses", json=sns_message(sns_key, ses_bounce("gone@example.org"), version))
    assert answer.status_code == 200, answer.get_json()
    assert answer.get_json() == {"suppressed": 1}
    assert suppressed() == {"g•••@example.org"}
    bounce = db.session.query(MailBounce).one()
    assert (bounce.kind, bounce.source, bounce.delivery_id) == (BounceKind.HARD, "ses", None)  # no delivery 99


def test_ses_complaints_suppress_and_transient_bounces_are_soft(client, sns_key):
    complaint = {"notificationType": "Complaint", "mail": {"headers": []},
                 "complaint": {"complainedRecipients": [{"emailAddress": "annoyed@example.org"}],
                               "complaintFeedbackType": "abuse"}}
    assert client.post("/api/v1/mail-webhooks/ses", json=sns_message(sns_key, complaint)).status_code == 200
    assert client.post("/api/v1/mail-webhooks/ses",
                       json=sns_message(sns_key, ses_bounce("full@example.org", "Transient"))).status_code == 200
    assert {(b.kind, b.source) for b in db.session.query(MailBounce)} == {
        (BounceKind.COMPLAINT, "ses"), (BounceKind.SOFT, "ses")}
    assert suppressed() == {"a•••@example.org"}  # one soft bounce suppresses nobody


@pytest.mark.parametrize("tamper", [
    lambda m: m.update(Message=m["Message"].replace("gone@", "someone-else@")),  # altered after signing
    lambda m: m.pop("Signature"),  # unsigned
    lambda m: m.update(Signature=base64.b64encode(b"x" * 256).decode()),  # signed by someone else
    lambda m: m.update(SigningCertURL="https://sns.eu-west-1.amazonaws.com.evil.example/cert.pem"),
    lambda m: m.update(SigningCertURL=CERT_URL.replace("https://", "http://")),
    lambda m: m.update(SignatureVersion="3"),
])
def test_an_unsigned_or_badly_signed_sns_message_is_refused(client, sns_key, tamper):
    message = sns_message(sns_key, ses_bounce("gone@example.org"))
    tamper(message)
    assert client.post("/api/v1/mail-webhooks/ses", json=message).status_code == 403
    assert db.session.query(MailBounce).count() == 0 and suppressed() == set()


def test_a_well_signed_message_of_someone_elses_topic_is_refused(client, sns_key):
    message = sns_message(sns_key, ses_bounce("gone@example.org"))
    message["TopicArn"] = "arn:aws:sns:eu-west-1:999999999999:theirs"
    message["Signature"] = base64.b64encode(sns_key.sign(
        provider_webhooks.sns_string_to_sign(message), padding.PKCS1v15(), hashes.SHA1())).decode()
    assert client.post("/api/v1/mail-webhooks/ses", json=message).status_code == 403
    assert suppressed() == set()


def postmark_bounce(address: str, kind: str = "HardBounce") -> dict:
    # Postmark's bounce webhook body (its documented fields).
    return {"RecordType": "Bounce", "ID": 4323372036854775807, "Type": kind, "TypeCode": 1,
            "Name": "Hard bounce", "MessageID": "883953f4-6105-42a2-a16a-77a8eac79483",
            "Description": "The server was unable to deliver your message (ex: unknown user, mailbox not found).",
            "Details": "smtp;550 5.1.1 The email account that you tried to reach does not exist.",
            "Email": address, "From": "no-reply@soonish.test", "BouncedAt": "2024-12-03T18:00:00Z",
            "Inactive": True, "CanActivate": True, "MessageStream": "outbound"}


def basic(user: str, password: str) -> dict:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


def test_postmark_needs_the_credentials_set_in_its_webhook_url(client):
    body = postmark_bounce("gone@example.net")
    assert client.post("/api/v1/mail-webhooks/postmark", json=body).status_code == 403
    assert client.post("/api/v1/mail-webhooks/postmark", json=body, headers=basic("postmark", "guess")).status_code == 403
    assert suppressed() == set()
    answer = client.post("/api/v1/mail-webhooks/postmark", json=body, headers=basic("postmark", "s3cret-in-the-url"))
    assert answer.status_code == 200 and answer.get_json() == {"suppressed": 1}
    soft = postmark_bounce("busy@example.net", "SoftBounce")
    auto = postmark_bounce("away@example.net", "AutoResponder")
    spam = {"RecordType": "SpamComplaint", "Email": "annoyed@example.net", "Type": "SpamComplaint"}
    for body in (soft, auto, spam):
        assert client.post("/api/v1/mail-webhooks/postmark", json=body, headers=basic("postmark", "s3cret-in-the-url")).status_code == 200
    assert suppressed() == {"g•••@example.net", "a•••@example.net"}
    assert {b.kind for b in db.session.query(MailBounce)} == {BounceKind.HARD, BounceKind.SOFT, BounceKind.COMPLAINT}


def mailgun_event(address: str, key: str = "key-mailgun-signing", timestamp: int | None = None,
                  token: str | None = None, event: str = "failed", severity: str = "permanent") -> dict:
    timestamp = str(timestamp or int(time.time()))
    token = token or uuid.uuid4().hex * 2
    signature = hmac.new(key.encode(), (timestamp + token).encode(), hashlib.sha256).hexdigest()
    return {
        "signature": {"timestamp": timestamp, "token": token, "signature": signature},
        "event-data": {"event": event, "severity": severity, "recipient": address, "reason": "bounce",
                       "delivery-status": {"code": 550, "message": "5.1.1 The email account does not exist",
                                           "description": ""},
                       "message": {"headers": {"message-id": "soonish-12@soonish.test", "to": address}}},
    }


def test_mailgun_events_are_taken_once_when_signed_and_fresh(client):
    signed = mailgun_event("gone@example.com")
    assert client.post("/api/v1/mail-webhooks/mailgun", json=mailgun_event("a@example.com", key="wrong")).status_code == 403
    assert client.post("/api/v1/mail-webhooks/mailgun",
                       json=mailgun_event("b@example.com", timestamp=int(time.time()) - 3600)).status_code == 403
    unsigned = mailgun_event("c@example.com")
    del unsigned["signature"]
    assert client.post("/api/v1/mail-webhooks/mailgun", json=unsigned).status_code == 403
    assert suppressed() == set()
    assert client.post("/api/v1/mail-webhooks/mailgun", json=signed).status_code == 200
    assert client.post("/api/v1/mail-webhooks/mailgun", json=signed).status_code == 403  # a replay
    temporary = mailgun_event("later@example.com", severity="temporary")
    complained = mailgun_event("annoyed@example.com", event="complained")
    for body in (temporary, complained):
        assert client.post("/api/v1/mail-webhooks/mailgun", json=body).status_code == 200
    assert suppressed() == {"g•••@example.com", "a•••@example.com"}
    assert mail_reputation.suppressed(["gone@example.com"])["gone@example.com"].endswith(
        "The email account does not exist)")


def test_a_body_that_is_not_json_is_a_clear_4xx(client):
    answer = client.post("/api/v1/mail-webhooks/mailgun", data=b"{not json", content_type="application/json")
    assert answer.status_code == 400 and answer.get_json()["error"]["message"] == "The request body is not valid JSON."
    answer = client.post("/api/v1/mail-webhooks/mailgun", data=b"[1, 2]", content_type="application/json")
    assert answer.status_code == 422 and "body" in answer.get_json()["error"]["fields"]
