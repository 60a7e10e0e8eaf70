"""Deleting an account and forgetting an email-only follower's address: one erase, in one
transaction, so a crash leaves either everything or nothing done.

What happens to a person's things:
- upcoming events they organize are cancelled, and their followers are told (the same cancel
  as the organizer's button): followers would rather hear "cancelled" than be left waiting for
  an event nobody runs; past events stay, as history, under a nameless organizer;
- their recurring series stop making occurrences, and their series follows go;
- their subscriptions end (the rows stay, unsubscribed, so organizers' delivery counts keep
  them) and the events' reminder schedules are brought in line after the commit;
- their channels are deleted (the encrypted URLs with them), their chat identities unlinked
  (with any chat action waiting for their Confirm);
- their RSVPs are deleted: a place they held (going, or offered to them from the waitlist) is
  freed and offered to the next in line, as when someone answers "can't go";
- their outgoing webhook endpoints (with the messages and attempts sent to them) and their API
  keys are deleted: the erased account's keys are refused from this commit on;
- the deliveries ledger keeps every row, with the address in its target replaced by a keyed
  hash: counts stay right, the address is gone, and nobody without the secret can get it back;
  the failure reasons of their rows (and of their confirm mails in the outbox) lose the hosts
  and addresses they quote;
- organizers' stored webhook messages that name them (an RSVP of theirs, a delivery to them
  that failed) stay, without their name, address or channel host;
- the user row stays as a tombstone (no email, name, password or feed token) so the rows above
  keep their foreign keys; its token epoch moves, which ends every session and token.
Erasing twice does nothing the second time, also when both run at the same instant.
"""
import hashlib
import hmac

from flask import current_app
from sqlalchemy import delete, or_, select, update

from soonish.domain import outgoing_webhooks
from soonish.domain.delivery.ledger import ERASED_TARGET_PREFIX
from soonish.domain.delivery.outcomes import redacted_reason
from soonish.domain.messages import N_
from soonish.links import LinkInvalid, LinkPurpose, unsign
from soonish.models import (
    ApiKey, ChatConnectCode, ChatIdentity, Delivery, Event, EventStatus, Integration, OutboxItem, OutboxKind,
    PendingChatAction, Rsvp, RsvpAnswer, Series, SeriesFollow, SeriesStatus, Subscription, SubscriptionSelector,
    SubscriptionStatus, User, WebhookAttempt, WebhookEndpoint, WebhookMessage, db, utcnow,
)
from soonish.services.concurrency import rerun_if_changed_meanwhile
from soonish.services.credentials import user_for_deletion_link
from soonish.services.errors import Conflict, NotFound, ValidationFailed
from soonish.services.events import mark_cancelled, tell_cancelled
from soonish.services.idempotency import forget_account
from soonish.services.notifications import ERASED_FOLLOWER
from soonish.services.rsvp import offer_free_places
from soonish.domain import outbox
from soonish.i18n import _l

CANCEL_NOTICE = N_("The organizer has closed their Soonish account, so this event is cancelled.")


def delete_account(user: User, password: str) -> None:
    if not user.check_password(password or ""):
        raise ValidationFailed.field("password", _l("That isn't your password."))
    erase(user)


def delete_account_from_link(token: str) -> None:
    erase(user_for_deletion_link(token))


def follower_from_forget_link(token: str) -> User | None:
    """The email-only follower a "forget my address" link names; None once forgotten already."""
    try:
        user_id, address = unsign(current_app.config["SECRET_KEY"], LinkPurpose.FORGET_ADDRESS, token)
    except (LinkInvalid, TypeError, ValueError) as exc:
        raise NotFound(_l("This link is not valid.")) from exc
    user = db.session.get(User, user_id) if isinstance(user_id, int) else None
    if user is None:
        raise NotFound(_l("This link is not valid."))
    if user.erased_at is not None or user.email != address:
        return None
    if user.password_hash is not None:
        raise Conflict(_l("This address now has a Soonish account: sign in and delete it from your account page."))
    return user


def forget_follower(token: str) -> None:
    user = follower_from_forget_link(token)
    if user is not None:
        erase(user)


def tombstone(secret: str, target: str) -> str:
    """A delivery target with the address replaced by a keyed hash of it: the same target
    always gives the same tombstone (the ledger's unique key still holds), and it cannot be
    turned back into the address."""
    kind = target.split(":", 1)[0]
    digest = hmac.new(f"soonish-erased:{secret}".encode(), target.encode(), hashlib.sha256).hexdigest()
    return f"{ERASED_TARGET_PREFIX}{kind}:{digest[:32]}"


@rerun_if_changed_meanwhile
def erase(user: User) -> None:
    if user.erased_at is not None:
        return
    # The claim and its check are one statement: of two erasures at once (two tabs, a double
    # click) the second finds the account claimed and does nothing, so followers hear once.
    # Being the transaction's first write, it also makes what is read below current (SQLite
    # begins at the first write; PostgreSQL reads each statement afresh).
    claimed = db.session.execute(
        update(User).where(User.id == user.id, User.erased_at.is_(None)).values(erased_at=utcnow())
    )
    if claimed.rowcount == 0:
        db.session.rollback()
        return
    cancelled = [
        (event, mark_cancelled(event, None, CANCEL_NOTICE))
        for event in db.session.scalars(
            select(Event).where(Event.organizer_id == user.id, Event.status == EventStatus.SCHEDULED)
        )
    ]
    subscriptions = list(db.session.scalars(select(Subscription).where(Subscription.user_id == user.id)))
    subscription_ids = [s.id for s in subscriptions]
    followed = [s.event for s in subscriptions if s.status == SubscriptionStatus.ACTIVE]
    integration_ids = select(Integration.id).where(Integration.user_id == user.id)
    identity_ids = select(ChatIdentity.id).where(ChatIdentity.user_id == user.id)
    rsvps = list(db.session.scalars(select(Rsvp).where(Rsvp.user_id == user.id)))
    freed = [r.event for r in rsvps if r.answer == RsvpAnswer.GOING or r.offer_expires_at is not None]
    rsvp_ids = [r.id for r in rsvps]
    # Whose webhook messages may name them.
    organizers = {s.event.organizer_id for s in subscriptions} | {r.event.organizer_id for r in rsvps}
    endpoint_ids = select(WebhookEndpoint.id).where(WebhookEndpoint.user_id == user.id)
    message_ids = select(WebhookMessage.id).where(WebhookMessage.endpoint_id.in_(endpoint_ids))
    # Explicit deletes, child rows first: SQLite enforces no ON DELETE CASCADE here.
    db.session.execute(delete(SubscriptionSelector).where(or_(
        SubscriptionSelector.subscription_id.in_(subscription_ids),
        SubscriptionSelector.integration_id.in_(integration_ids),
        SubscriptionSelector.chat_identity_id.in_(identity_ids),
    )))
    db.session.execute(delete(Integration).where(Integration.user_id == user.id))
    db.session.execute(delete(PendingChatAction).where(PendingChatAction.chat_identity_id.in_(identity_ids)))
    db.session.execute(delete(ChatIdentity).where(ChatIdentity.user_id == user.id))
    db.session.execute(delete(Rsvp).where(Rsvp.user_id == user.id))
    db.session.execute(delete(WebhookAttempt).where(WebhookAttempt.message_id.in_(message_ids)))
    db.session.execute(delete(WebhookMessage).where(WebhookMessage.id.in_(message_ids)))
    db.session.execute(delete(WebhookEndpoint).where(WebhookEndpoint.user_id == user.id))
    db.session.execute(delete(ApiKey).where(ApiKey.user_id == user.id))
    db.session.execute(delete(ChatConnectCode).where(ChatConnectCode.user_id == user.id))
    forget_account(user.id)  # the answers kept for its Idempotency-Keys
    # Their series make no more occurrences, and no new occurrence subscribes them.
    db.session.execute(delete(SeriesFollow).where(SeriesFollow.user_id == user.id))
    db.session.execute(update(Series).where(Series.organizer_id == user.id).values(status=SeriesStatus.CANCELLED))
    db.session.execute(
        update(Subscription).where(Subscription.user_id == user.id).values(status=SubscriptionStatus.UNSUBSCRIBED)
    )
    _tombstone_ledger(subscription_ids)
    outgoing_webhooks.forget_person(rsvp_ids, subscription_ids, sorted(organizers), ERASED_FOLLOWER)
    user.email = None
    user.display_name = ""
    user.password_hash = None
    user.calendar_token = None
    user.is_verified = False
    user.token_epoch += 1
    # Told after the deletes above, so the account's own endpoints hear nothing.
    for event, notification in cancelled:
        tell_cancelled(event, notification)
    for event in followed:
        if event.status == EventStatus.SCHEDULED:
            outbox.reminders_changed(event)
    for event in freed:
        offer_free_places(event)
    db.session.commit()
    current_app.logger.info("account erased", extra={"user_id": user.id, "events_cancelled": len(cancelled)})


def _tombstone_ledger(subscription_ids: list[int]) -> None:
    if not subscription_ids:
        return
    secret = current_app.config["SECRET_KEY"]
    mine = Delivery.subscription_id.in_(subscription_ids)
    targets = db.session.scalars(
        select(Delivery.target).where(mine, ~Delivery.target.startswith(ERASED_TARGET_PREFIX)).distinct()
    ).all()
    for target in targets:
        db.session.execute(update(Delivery).where(mine, Delivery.target == target).values(target=tombstone(secret, target)))
    _redact_reasons(Delivery, Delivery.last_error, mine)
    _redact_reasons(OutboxItem, OutboxItem.last_error, OutboxItem.kind == OutboxKind.CONFIRM_MAIL,
                    OutboxItem.subject_id.in_(subscription_ids))


def _redact_reasons(model, column, *where) -> None:
    """A mail server's refusal quotes the address, a failed webhook its host."""
    for row_id, reason in db.session.execute(select(model.id, column).where(*where, column.is_not(None))).all():
        if (kept := redacted_reason(reason)) != reason:
            db.session.execute(update(model).where(model.id == row_id).values({column.key: kept}))
