"""Delivery activities: plan a notification's fan-out, deliver it batch by batch, and send
one-off mails. Every send goes through the deliveries ledger, so a retried or rerun batch
skips what is already sent."""
import asyncio
import logging
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import aiohttp
from flask import Flask, render_template
from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert as postgres_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import joinedload, selectinload
from temporalio import activity
from temporalio.exceptions import ApplicationError

from ..chat_markup import PLATFORM_NAMES
from ..crypto import FieldCipher
from ..delivery import (
    ChatAddress, ChatSettings, Courier, DeliveryFailed, Destination, MailSettings, Message, compose_mail,
    http_pool, send_mail_now,
)
from ..links import (
    LinkPurpose, confirm_path, event_path, link_chat_path, manage_path, public_url, sign,
    unsubscribe_path, verify_email_path,
)
from ..messages import NotificationText, RecipientLinks, when_text
from ..models import (
    ChatIdentity, Delivery, DeliveryStatus, Event, EventStatus, Integration, Notification, Subscription,
    SubscriptionSelector, SubscriptionStatus, User, db, utcnow,
)
from ..observability import record_delivery, record_reminder_lateness
from ..routing import Target, targets_for
from ..share import calendar_links
from .activities import database_activity
from .shared import (
    MAX_DELIVERY_ATTEMPTS, PARALLEL_BATCHES, ActivityName, BatchResult, DeliveryBatch, FanoutPlan,
    NotificationRef, SubscriptionRange, TransactionalMail, reminder_dedupe_key,
)

log = logging.getLogger(__name__)


@dataclass
class PlannedSend:
    delivery_id: int
    channel: str
    destination: Destination
    message: Message


@dataclass
class SendOutcome:
    delivery_id: int
    channel: str
    error: DeliveryFailed | None = None


def is_recipient(notification: Notification, reminder_offsets: list[int]) -> bool:
    """A reminder goes only to subscriptions holding its offset; everything else to all."""
    return notification.reminder_offset is None or notification.reminder_offset in reminder_offsets


def still_stands(notification: Notification, event: Event) -> bool:
    """Whether a notification should still go out. A reminder (planned ahead of its due time)
    does not once the event has moved, been cancelled or started."""
    if notification.reminder_offset is None:
        return True
    return (
        event.status == EventStatus.SCHEDULED
        and notification.dedupe_key == reminder_dedupe_key(event.id, notification.reminder_offset, event.starts_at)
        and utcnow() < event.starts_at
    )


def recipient_ids(notification: Notification) -> list[int]:
    """The active subscriptions this notification goes to, by id."""
    query = select(Subscription.id, Subscription.reminder_offsets).where(
        Subscription.event_id == notification.event_id,
        Subscription.status == SubscriptionStatus.ACTIVE,
    )
    if notification.subscription_id is not None:
        query = query.where(Subscription.id == notification.subscription_id)
    return [
        subscription_id
        for subscription_id, offsets in db.session.execute(query.order_by(Subscription.id))
        if is_recipient(notification, offsets)
    ]


def chunked(ids: list[int], size: int) -> list[list[int]]:
    return [ids[i : i + size] for i in range(0, len(ids), size)]


def ids_range(ids: list[int]) -> SubscriptionRange:
    return SubscriptionRange(ids[0], ids[-1])


def insert_ignoring_duplicates(table):
    """INSERT … ON CONFLICT DO NOTHING on PostgreSQL and SQLite: the ledger's unique key decides."""
    insert = postgres_insert if db.engine.dialect.name == "postgresql" else sqlite_insert
    return insert(table).on_conflict_do_nothing()


def chat_address(identity: ChatIdentity) -> ChatAddress:
    return ChatAddress(identity.platform, identity.external_user_id, identity.is_channel)


class DeliveryActivities:
    def __init__(self, app: Flask) -> None:
        self.app = app
        config = app.config
        self.cipher = FieldCipher.from_setting(config["ENCRYPTION_KEYS"], config["SECRET_KEY"])
        self.mail = MailSettings.from_config(config, str(Path(app.instance_path) / "outbox"))
        self.batch_size = int(config["DELIVERY_BATCH_SIZE"])
        self.concurrency = int(config["DELIVERY_CONCURRENCY"])
        self.allow_private = bool(config["ALLOW_PRIVATE_TARGETS"])
        self.chat = ChatSettings.from_config(config)
        self._http: aiohttp.ClientSession | None = None

    def all(self) -> list:
        return [self.plan_fanout, self.deliver_batch, self.deliver_batches, self.send_transactional_mail]

    def _http_pool(self) -> aiohttp.ClientSession:
        """One HTTP pool for every batch this worker runs, made on its event loop at first use:
        a pool per batch opened a new connection to each receiver every batch."""
        if self._http is None:
            self._http = http_pool(self.allow_private, self.concurrency * PARALLEL_BATCHES)
        return self._http

    async def close(self) -> None:
        """Close the HTTP pool; after the worker has stopped."""
        if self._http is not None:
            await self._http.close()
            self._http = None

    # Planning -----------------------------------------------------------------------------

    @database_activity(ActivityName.PLAN_FANOUT)
    def plan_fanout(self, ref: NotificationRef) -> FanoutPlan:
        """Split the notification's active subscriptions into id ranges of one batch each."""
        with self.app.app_context():
            notification = db.session.get(Notification, ref.notification_id)
            ids = recipient_ids(notification) if notification is not None else []
        return FanoutPlan(ref.notification_id, [ids_range(chunk) for chunk in chunked(ids, self.batch_size)])

    # Delivering ---------------------------------------------------------------------------

    @activity.defn(name=ActivityName.DELIVER_BATCH)
    async def deliver_batch(self, batch: DeliveryBatch) -> BatchResult:
        return await self._deliver([batch])

    @activity.defn(name=ActivityName.DELIVER_BATCHES)
    async def deliver_batches(self, batches: list[DeliveryBatch]) -> BatchResult:
        """Several small batches (of different notifications) as one: a slot of reminders."""
        return await self._deliver(batches)

    async def _deliver(self, batches: list[DeliveryBatch]) -> BatchResult:
        final_attempt = activity.info().attempt >= MAX_DELIVERY_ATTEMPTS
        began = time.monotonic()
        planned: list[PlannedSend] = []
        dues: list[datetime | None] = []  # when each send was due, for reminders
        result = BatchResult()
        for batch in batches:
            batch_planned, already_sent, due = await asyncio.to_thread(self._prepare, batch)
            planned += batch_planned
            dues += [due] * len(batch_planned)
            result.already_sent += already_sent
        prepared = time.monotonic()
        sending = recording = 0.0
        async with Courier(self.mail, self.allow_private, self._http_pool(), self.chat) as courier:
            # One group in flight at a time, recorded before the next starts: a crash can
            # repeat at most one group's sends.
            for start in range(0, len(planned), self.concurrency):
                group = planned[start : start + self.concurrency]
                mark = time.monotonic()
                outcomes = await asyncio.gather(*(self._send(courier, item) for item in group))
                sent_at = time.monotonic()
                await asyncio.to_thread(self._record, outcomes, final_attempt)
                now = utcnow()
                for outcome, due in zip(outcomes, dues[start : start + self.concurrency]):
                    if due is not None and outcome.error is None:
                        record_reminder_lateness((now - due).total_seconds())
                sending += sent_at - mark
                recording += time.monotonic() - sent_at
                for outcome in outcomes:
                    if outcome.error is None:
                        result.sent += 1
                    elif outcome.error.permanent or final_attempt:
                        result.failed += 1
                    else:
                        result.retrying += 1
                activity.heartbeat(start + len(group))
        # Where a batch's time went (the benchmark reads these lines; so can an operator).
        first = batches[0] if batches else DeliveryBatch(0, SubscriptionRange(0, 0))
        what = (
            f"batch {first.subscriptions.first_id}-{first.subscriptions.last_id} of notification {first.notification_id}"
            if len(batches) == 1 else f"{len(batches)} reminder batches"
        )
        log.info(
            "%s: %d sent, %d failed, %d retrying, %d already sent; "
            "prepare %.3fs, sends %.3fs, records %.3fs, total %.3fs",
            what, result.sent, result.failed, result.retrying, result.already_sent,
            prepared - began, sending, recording, time.monotonic() - began,
        )
        if result.retrying:
            # Temporal retries the batch with backoff; the ledger skips what was sent.
            raise ApplicationError(f"{result.retrying} sends failed and will be retried")
        return result

    async def _send(self, courier: Courier, item: PlannedSend) -> SendOutcome:
        try:
            await courier.send(item.destination, item.message)
        except DeliveryFailed as exc:
            return SendOutcome(item.delivery_id, item.channel, exc)
        return SendOutcome(item.delivery_id, item.channel)

    def _prepare(self, batch: DeliveryBatch) -> tuple[list[PlannedSend], int, datetime | None]:
        """Record a ledger row per (subscription, target) and plan the ones not yet sent.
        Also returns when the notification was due, for a reminder (else None)."""
        with self.app.app_context():
            notification = db.session.get(Notification, batch.notification_id)
            if notification is None:
                return [], 0, None
            event = db.session.get(Event, notification.event_id)
            if not still_stands(notification, event):
                return [], 0, None
            due = (
                event.starts_at - timedelta(seconds=notification.reminder_offset)
                if notification.reminder_offset is not None else None
            )
            subscriptions = self._subscriptions(notification, batch.subscriptions)
            integrations = self._integrations_of(subscriptions)
            targets = {s.id: targets_for(s, integrations.get(s.user_id, [])) for s in subscriptions}
            integration_by_id = {i.id: i for owned in integrations.values() for i in owned}
            rows = [
                {"notification_id": notification.id, "subscription_id": sub_id, "target": t.key, "channel": t.channel}
                for sub_id, sub_targets in targets.items()
                for t in sub_targets
            ]
            if rows:
                db.session.execute(insert_ignoring_duplicates(Delivery.__table__), rows)
            # Plain rows, not ORM objects: a batch reads hundreds and changes few.
            deliveries = db.session.execute(
                select(Delivery.id, Delivery.subscription_id, Delivery.target, Delivery.status).where(
                    Delivery.notification_id == notification.id,
                    Delivery.subscription_id.between(batch.subscriptions.first_id, batch.subscriptions.last_id),
                )
            ).all()
            already_sent = sum(d.status == DeliveryStatus.SENT for d in deliveries)
            text = NotificationText.of(notification, event, self._url(event_path(event.slug)))
            by_id = {s.id: s for s in subscriptions}
            planned, skipped = [], []
            for delivery in deliveries:
                if delivery.status != DeliveryStatus.PENDING:
                    continue
                target = next((t for t in targets.get(delivery.subscription_id, []) if t.key == delivery.target), None)
                if target is None:
                    # Unsubscribed, or the channel was removed, since this row was written.
                    skipped.append(delivery.id)
                    continue
                subscription = by_id[delivery.subscription_id]
                planned.append(self._plan(delivery.id, target, subscription, text, integration_by_id))
            if skipped:
                db.session.execute(
                    update(Delivery).where(Delivery.id.in_(skipped)).values(status=DeliveryStatus.SKIPPED)
                )
            # Nothing loaded is needed after this: let the commit skip expiring every object.
            db.session.expunge_all()
            db.session.commit()
            return planned, already_sent, due

    def _subscriptions(self, notification: Notification, ids: SubscriptionRange) -> list[Subscription]:
        query = (
            select(Subscription)
            .where(
                Subscription.event_id == notification.event_id,
                Subscription.status == SubscriptionStatus.ACTIVE,
                Subscription.id.between(ids.first_id, ids.last_id),
            )
            .options(
                joinedload(Subscription.user),
                selectinload(Subscription.selectors).joinedload(SubscriptionSelector.chat_identity),
            )
        )
        if notification.subscription_id is not None:
            query = query.where(Subscription.id == notification.subscription_id)
        return [s for s in db.session.scalars(query) if is_recipient(notification, s.reminder_offsets)]

    def _integrations_of(self, subscriptions: list[Subscription]) -> dict[int, list[Integration]]:
        """The integrations of every user whose subscription has selectors, by user id."""
        user_ids = {s.user_id for s in subscriptions if s.selectors}
        by_user: dict[int, list[Integration]] = {}
        if user_ids:
            for integration in db.session.scalars(select(Integration).where(Integration.user_id.in_(user_ids))):
                by_user.setdefault(integration.user_id, []).append(integration)
        return by_user

    def _plan(
        self, delivery_id: int, target: Target, subscription: Subscription,
        text: NotificationText, integrations: dict[int, Integration],
    ) -> PlannedSend:
        key = f"soonish-{delivery_id}"
        chat_platform = None
        if target.email:
            destination = Destination(email=target.email)
        elif target.chat_identity_id is not None:
            identity = next(s.chat_identity for s in subscription.selectors if s.chat_identity_id == target.chat_identity_id)
            destination = Destination(chat=chat_address(identity))
            chat_platform = identity.platform
        else:
            integration = integrations[target.integration_id]
            destination = Destination(apprise_url=self.cipher.decrypt(integration.apprise_url_encrypted))
        as_mail = target.channel == "email"
        links = self._links(subscription) if as_mail else None
        message = text.message(key, links, as_mail, chat_platform)
        return PlannedSend(delivery_id, target.channel, destination, message)

    def _links(self, subscription: Subscription) -> RecipientLinks:
        token = sign(self.app.config["SECRET_KEY"], LinkPurpose.MANAGE, subscription.id)
        return RecipientLinks(self._url(manage_path(token)), self._url(unsubscribe_path(token)))

    def _url(self, path: str) -> str:
        return public_url(self.app.config["PUBLIC_URL"], path)

    def _record(self, outcomes: list[SendOutcome], final_attempt: bool) -> None:
        now = utcnow()
        with self.app.app_context():
            sent = [o.delivery_id for o in outcomes if o.error is None]
            if sent:
                db.session.execute(
                    update(Delivery)
                    .where(Delivery.id.in_(sent))
                    .values(status=DeliveryStatus.SENT, sent_at=now, attempts=Delivery.attempts + 1, last_error=None)
                )
            for outcome in outcomes:
                if outcome.error is None:
                    continue
                gave_up = outcome.error.permanent or final_attempt
                db.session.execute(
                    update(Delivery)
                    .where(Delivery.id == outcome.delivery_id)
                    .values(
                        status=DeliveryStatus.FAILED if gave_up else DeliveryStatus.PENDING,
                        attempts=Delivery.attempts + 1,
                        last_error=outcome.error.reason[:500],
                    )
                )
            db.session.commit()
        sent_ids = [o.delivery_id for o in outcomes if o.error is None]
        if sent_ids:
            # One line per recorded group, not per send: which worker sent what, traceably.
            log.info("sends recorded", extra={"delivery_ids": sent_ids})
        for outcome in outcomes:
            if outcome.error is None:
                record_delivery("sent", outcome.channel)
                continue
            gave_up = outcome.error.permanent or final_attempt
            record_delivery("failed" if gave_up else "retrying", outcome.channel)
            log.warning(
                "delivery %s: %s", "failed" if gave_up else "will retry", outcome.error.reason,
                extra={"delivery_id": outcome.delivery_id, "channel": outcome.channel},
            )

    # One-off mails ------------------------------------------------------------------------

    @database_activity(ActivityName.SEND_TRANSACTIONAL_MAIL)
    def send_transactional_mail(self, request: TransactionalMail) -> None:
        with self.app.app_context():
            if request.kind == "confirm":
                address, message = self.confirm_mail(request.subject_id)
            elif request.kind == "link":
                address, message = self._link_mail(request.subject_id, request.address)
            else:
                address, message = self._verify_mail(request.subject_id)
            if address is None:
                return
            try:
                send_mail_now(self.mail, compose_mail(message, self.mail.sender, address))
            except OSError as exc:
                raise ApplicationError(f"mail server unreachable ({type(exc).__name__})") from exc

    def confirm_mail(self, subscription_id: int, delivery_key: str | None = None) -> tuple[str | None, Message | None]:
        subscription = db.session.get(Subscription, subscription_id)
        if subscription is None or subscription.status != SubscriptionStatus.PENDING:
            return None, None
        event = subscription.event
        secret = self.app.config["SECRET_KEY"]
        confirm_url = self._url(confirm_path(sign(secret, LinkPurpose.CONFIRM, subscription.id)))
        links = self._links(subscription)
        event_url = self._url(event_path(event.slug))
        context = dict(event=event, when=when_text(event), confirm_url=confirm_url, links=links,
                       event_url=event_url, calendar=calendar_links(event, event_url))
        message = self._one_off_mail(f"confirm-{subscription.id}", "confirm", f"Confirm: follow {event.title}",
                                     context, unsubscribe_url=links.unsubscribe_url, delivery_key=delivery_key)
        return subscription.user.email, message

    def _verify_mail(self, user_id: int) -> tuple[str | None, Message | None]:
        user = db.session.get(User, user_id)
        if user is None or not user.email:
            return None, None
        token = sign(self.app.config["SECRET_KEY"], LinkPurpose.VERIFY_EMAIL, user.id)
        context = dict(verify_url=self._url(verify_email_path(token)), user=user)
        return user.email, self._one_off_mail(f"verify-{user.id}", "verify", "Confirm your email for Soonish", context)

    def _link_mail(self, identity_id: int, address: str | None) -> tuple[str | None, Message | None]:
        identity = db.session.get(ChatIdentity, identity_id)
        if identity is None or not address:
            return None, None
        token = sign(self.app.config["SECRET_KEY"], LinkPurpose.LINK_CHAT, [identity.id, address])
        context = dict(link_url=self._url(link_chat_path(token)), address=address,
                       platform=PLATFORM_NAMES[identity.platform])
        title = f"Link your {context['platform']} account to Soonish"
        return address, self._one_off_mail(f"link-{identity.id}", "link_chat", title, context)

    def _one_off_mail(self, key: str, template: str, title: str, context: dict,
                      unsubscribe_url: str | None = None, delivery_key: str | None = None) -> Message:
        """A mail from its text and HTML templates; keyed by its workflow (or outbox row), so a
        retry keeps the key."""
        return Message(
            delivery_key=delivery_key or f"soonish-{key}-{activity.info().workflow_id}",
            title=title,
            text=render_template(f"mail/{template}.txt", **context),
            short="",
            html=render_template(f"mail/{template}.html", **context),
            unsubscribe_url=unsubscribe_url,
        )
