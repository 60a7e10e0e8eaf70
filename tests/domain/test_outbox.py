"""The outbox (soonish.domain.outbox): effects written with the change, claimed, composed and
recorded with a database alone; the worker's drain only sends and signals."""
from soonish.domain import outbox, outgoing_webhooks
from soonish.domain.delivery.mail import OneOffKind
from soonish.models import OutboxItem, OutboxKind, User, WebhookEndpoint, WebhookMessage, db
from soonish.temporal.delivery.types import MAX_DELIVERY_ATTEMPTS


def test_a_one_off_mail_row_is_composed_by_the_drain_and_forgets_its_address_once_sent(domain_app):
    user = User(email="ada@example.com", display_name="Ada")
    user.set_password("correct horse battery")
    db.session.add(user)
    db.session.flush()
    outbox.one_off_mail(OneOffKind.CHANGE_EMAIL, user.id, "new@example.com")
    db.session.commit()

    [item] = outbox.claim()
    assert item.kind == OutboxKind.ONE_OFF_MAIL and item.event_id is None
    assert outbox.claim() == []  # leased: another drain does not take it
    [(claimed, mail)] = outbox.mails([item])
    assert claimed == item and mail.address == "new@example.com"
    assert mail.message.delivery_key.endswith(f"-outbox-{item.id}")  # a resend after a crash keeps it
    outbox.record([outbox.Outcome(item)], MAX_DELIVERY_ATTEMPTS)
    row = db.session.get(OutboxItem, item.id)
    assert row.done_at is not None and row.payload is None


def test_webhook_messages_are_recorded_with_their_outbox_rows_in_the_callers_transaction(domain_app):
    owner = User(email="host@example.com")
    db.session.add(owner)
    db.session.flush()
    db.session.add(WebhookEndpoint(user=owner, url="http://127.0.0.1:9/hook", secret_encrypted=b"unused here",
                                   event_types=["event.updated"]))
    db.session.commit()

    [message] = outgoing_webhooks.record_messages(owner.id, "event.updated", {"event": {"id": 1}})
    db.session.rollback()  # the caller did not commit: neither the message nor its effect stays
    assert db.session.query(WebhookMessage).count() == db.session.query(OutboxItem).count() == 0

    [message] = outgoing_webhooks.record_messages(owner.id, "event.updated", {"event": {"id": 1}})
    db.session.commit()
    [row] = db.session.query(OutboxItem).all()
    assert (row.kind, row.subject_id, row.event_id) == (OutboxKind.WEBHOOK_MESSAGE, message.id, None)
