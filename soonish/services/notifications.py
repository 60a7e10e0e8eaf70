"""Notifications: what organizers announce and what changes tell subscribers, and how each
one's deliveries went."""
import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import and_, case, func, or_, select, update

from soonish.domain.delivery import reminders as reminder_rule
from soonish.models import (
    Delivery, DeliveryStatus, DeliveryTally, Event, EventStatus, Notification, NotificationKind, Subscription,
    SubscriptionStatus, User, db, utcnow,
)
from soonish.domain import outbox
from soonish.domain.messages import welcome_body, welcome_title
from soonish.services.broadcast import TITLE_MAX, record
from soonish.services.errors import Conflict, NotFound, ValidationFailed
from soonish.domain.communities import Action
from soonish.services.events import get_event_for_organizer, list_organized_events, run_by
from soonish.i18n import _l
from soonish.domain.privacy import mask_address

BODY_MAX = 5000
# Below this, "sent early" is only the schedule's own jitter.
SENT_EARLY_NOTICE = timedelta(seconds=1)


def announce(actor: User, event_id: int, title: str, body: str) -> Notification:
    event = get_event_for_organizer(actor, event_id, Action.ANNOUNCE)
    if event.status == EventStatus.CANCELLED:
        raise ValidationFailed(_l("This event is cancelled."), {"event": ["cancelled"]})
    title, body = (title or "").strip(), (body or "").strip()
    errors = {}
    if not title or len(title) > TITLE_MAX:
        errors["title"] = [_l("Give the announcement a title (up to %(count)s characters).", count=TITLE_MAX)]
    if len(body) > BODY_MAX:
        errors["body"] = [_l("Keep it under %(count)s characters.", count=BODY_MAX)]
    if errors:
        raise ValidationFailed(_l("Some fields need attention."), errors)
    notification = record(event, NotificationKind.ANNOUNCEMENT, title, body, author=actor)
    outbox.notify(event, notification)
    db.session.commit()
    return notification


def welcome(subscription: Subscription) -> Notification:
    """Greet a subscription that just became active: the welcome is recorded in the caller's
    transaction, with an outbox row that hands it to the event's workflow after the commit."""
    event = subscription.event
    # Said anew in each reader's language when it is sent, with where else they could follow
    # (chat) per channel (messages.framed).
    notification = record(event, NotificationKind.WELCOME, welcome_title(event.title),
                          welcome_body(subscription.reminder_offsets), subscription=subscription)
    outbox.notify(event, notification)
    return notification


# Announcements, updates, cancellations and welcomes go out through the event's workflow, which
# marks each one settled when its batches are done (ledger.mark_settled): until then, one without
# deliveries is on its way, however long the wait. Reminders go out from their slot's workflow,
# which marks nothing: one of them without deliveries is on its way for as long as planning takes.
SETTLED_BY_EVENT_WORKFLOW = frozenset({
    NotificationKind.ANNOUNCEMENT, NotificationKind.UPDATE, NotificationKind.CANCEL, NotificationKind.WELCOME,
})
PLANNING_GRACE = timedelta(seconds=30)


def awaits_planning(notification: Notification, has_deliveries: bool) -> bool:
    """No delivery rows yet because its fan-out has not run, rather than because it found nobody."""
    if has_deliveries or notification.settled_at is not None:
        return False
    if notification.kind in SETTLED_BY_EVENT_WORKFLOW:
        return True
    return utcnow() - notification.created_at < PLANNING_GRACE


@dataclass
class NotificationReport:
    notification: Notification
    counts: dict[str, int]
    failures: list[tuple[str, int]] = field(default_factory=list)
    unplanned: int = 0  # messages whose fan-out has not claimed their deliveries yet

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    @property
    def going_out(self) -> int:
        """The deliveries sent or to be sent: not those planning left out (skipped, or suppressed:
        the address bounced or complained), which no destination's pace held up."""
        return self.total - self.counts[DeliveryStatus.SKIPPED.value] - self.counts[DeliveryStatus.SUPPRESSED.value]

    @property
    def in_progress(self) -> bool:
        """Still sending: pages poll while this holds."""
        return bool(self.counts[DeliveryStatus.PENDING.value] or self.unplanned)


@dataclass
class WelcomesReport(NotificationReport):
    """Every welcome of an event as one report (``notification`` is the newest): one goes to
    each new follower, so a report each would bury the organizer's own messages. A welcome not
    planned yet counts as one pending delivery, so the totals account for every follower greeted."""

    welcomes: int = 0


@dataclass
class EventOverview:
    """One row of the organizer's dashboard."""

    event: Event
    followers: int
    latest: NotificationReport | None


def delivery_reports(actor: User, event_id: int, limit: int = 50, fold_welcomes: bool = False) -> list[NotificationReport]:
    """Per notification, newest first: deliveries by status and the failures' reasons. With
    ``fold_welcomes``, the welcomes are one WelcomesReport at the end, after the broadcasts."""
    get_event_for_organizer(actor, event_id, Action.SEE_DELIVERIES)
    query = select(Notification).where(Notification.event_id == event_id)
    if fold_welcomes:
        query = query.where(Notification.kind != NotificationKind.WELCOME)
    reports = _reports_for(list(
        db.session.scalars(query.order_by(Notification.created_at.desc(), Notification.id.desc()).limit(limit))
    ))
    welcomes = _welcomes_report(event_id) if fold_welcomes else None
    return reports + [welcomes] if welcomes else reports


def _welcomes_report(event_id: int) -> WelcomesReport | None:
    """All of an event's welcomes in one report: four queries however many followers."""
    is_welcome = (Notification.event_id == event_id, Notification.kind == NotificationKind.WELCOME)
    newest_id, welcomes = db.session.execute(select(func.max(Notification.id), func.count()).where(*is_welcome)).one()
    if not welcomes:
        return None
    of_welcomes = (Notification.id == Delivery.notification_id, *is_welcome)
    # The counts and the welcomes not planned yet (no delivery row, not settled) in one statement:
    # read apart, a fan-out claiming its row between the two reads made a welcome neither
    # pending nor unplanned, and the panel stopped polling one delivery short.
    counts = {s.value: 0 for s in DeliveryStatus}
    unplanned = 0
    for status, count in db.session.execute(
        select(Delivery.status, func.count()).select_from(Notification)
        .outerjoin(Delivery, Delivery.notification_id == Notification.id)
        .where(*is_welcome, or_(Delivery.id.is_not(None), Notification.settled_at.is_(None)))
        .group_by(Delivery.status)
    ):
        if status is None:
            unplanned = count
        else:
            counts[status.value] = count
    failures = [
        (reason or "unknown", count) for reason, count in db.session.execute(
            select(Delivery.last_error, func.count()).join(Notification, and_(*of_welcomes))
            .where(Delivery.status == DeliveryStatus.FAILED)
            .group_by(Delivery.last_error).order_by(func.count().desc())
        )
    ]
    counts[DeliveryStatus.PENDING.value] += unplanned
    return WelcomesReport(db.session.get(Notification, newest_id), counts, failures, unplanned=unplanned,
                          welcomes=welcomes)


def organizer_overview(actor: User) -> list[EventOverview]:
    """The organizer's events, newest first, each with its follower count and how its latest
    broadcast went; a fixed number of queries however many events there are."""
    events = list_organized_events(actor)
    ids = [e.id for e in events]
    if not ids:
        return []
    followers = dict(db.session.execute(
        select(Subscription.event_id, func.count())
        .where(Subscription.event_id.in_(ids), Subscription.status == SubscriptionStatus.ACTIVE)
        .group_by(Subscription.event_id)
    ).all())
    # Welcomes go to one subscriber each: the organizer's latest news is the latest broadcast.
    latest_ids = (
        select(func.max(Notification.id))
        .where(Notification.event_id.in_(ids), Notification.subscription_id.is_(None))
        .group_by(Notification.event_id)
    )
    latest = {r.notification.event_id: r for r in _reports_for(list(
        db.session.scalars(select(Notification).where(Notification.id.in_(latest_ids)))
    ))}
    return [EventOverview(e, followers.get(e.id, 0), latest.get(e.id)) for e in events]


RECIPIENTS_PER_PAGE = 50
RECIPIENTS_PER_PAGE_MAX = 200


@dataclass
class RecipientRow:
    """One delivery of a notification, as its organizer sees it."""

    follower: str
    channel: str
    status: str
    attempts: int
    sent_at: datetime | None
    last_error: str | None
    waiting: str | None = None  # "waiting for Slack's rate limit (≈2 min left)", while it does


def waiting_label(waiting_for: str | None, until: datetime | None, now: datetime) -> str | None:
    """Why a pending delivery has not gone yet, when it waits for a rate limit."""
    if waiting_for is None or until is None or until <= now:
        return None
    left = (until - now).total_seconds()
    amount = f"≈{math.ceil(left / 60)} min" if left >= 90 else f"≈{math.ceil(left)} s"
    return f"waiting for {waiting_for}'s rate limit ({amount} left)"


@dataclass
class RecipientPage:
    report: NotificationReport
    rows: list[RecipientRow]
    status: str | None
    page: int
    per_page: int
    total: int  # deliveries matching ``status``
    # A reminder whose sends need longer than its destinations' budgets allow at its due time
    # starts early (delivery.reminders.sends_from): the page says when it was due and when its
    # sending started, so an organizer who sees "sent 17:58" for an 18:00 reminder knows why.
    due_at: datetime | None = None
    sending_started_at: datetime | None = None

    @property
    def sent_early_by(self) -> timedelta | None:
        if self.due_at is None or self.sending_started_at is None:
            return None
        early = self.due_at - self.sending_started_at
        return early if early >= SENT_EARLY_NOTICE else None

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))


ERASED_FOLLOWER = "a deleted account"


def follower_label(user: User) -> str:
    """How an organizer sees one of their followers. Followers trusted Soonish with their email
    address, not the organizer, so the address is masked."""
    if user.erased_at is not None:
        return ERASED_FOLLOWER
    return user.display_name or mask_address(user.email) or "a chat follower"


def _paused(actor: User, event_id: int, notification_id: int) -> tuple[Event, Notification]:
    event = get_event_for_organizer(actor, event_id)
    notification = db.session.get(Notification, notification_id)
    if notification is None or notification.event_id != event_id:
        raise NotFound(_l("No such message for this event."))
    return event, notification


def _leave_pause(notification: Notification, **values) -> None:
    """Conditional: of two requests at once (resume and cancel, say), one leaves the pause."""
    left = db.session.execute(
        update(Notification).where(Notification.id == notification.id, Notification.paused_at.is_not(None),
                                   Notification.resumed_at.is_(None)).values(resumed_at=utcnow(), **values)
    ).rowcount
    if not left:
        raise Conflict(_l("This message is not paused (it was resumed or cancelled already)."))


def resume(actor: User, event_id: int, notification_id: int) -> Notification:
    """Send the rest of a broadcast paused for its bounce rate (the ledger skips what was sent)."""
    event, notification = _paused(actor, event_id, notification_id)
    _leave_pause(notification, paused_at=None)
    outbox.resume(event, notification)
    db.session.commit()
    db.session.refresh(notification)
    return notification


def cancel_rest(actor: User, event_id: int, notification_id: int) -> Notification:
    """Send no more of a paused broadcast: what was not sent yet is skipped."""
    _, notification = _paused(actor, event_id, notification_id)
    _leave_pause(notification)
    db.session.execute(update(Delivery).where(Delivery.notification_id == notification.id,
                                              Delivery.status == DeliveryStatus.PENDING)
                       .values(status=DeliveryStatus.SKIPPED))
    db.session.commit()
    db.session.refresh(notification)
    return notification


def recipients(actor: User, event_id: int, notification_id: int, status: str | None = None,
               page: int = 1, per_page: int = RECIPIENTS_PER_PAGE) -> RecipientPage:
    """Who a notification went to, one delivery each (failed first, then pending, sent and
    skipped), with the channel, the outcome and why it failed."""
    get_event_for_organizer(actor, event_id, Action.SEE_DELIVERIES)
    notification = db.session.get(Notification, notification_id)
    if notification is None or notification.event_id != event_id:
        raise NotFound(_l("No such message for this event."))
    listing = _recipient_page(_reports_for([notification])[0], Delivery.notification_id == notification_id,
                              status, page, per_page)
    listing.due_at = reminder_rule.due_of(notification)
    if listing.due_at is not None:
        listing.sending_started_at = db.session.scalar(
            select(func.min(Delivery.sent_at)).where(Delivery.notification_id == notification_id)
        )
    return listing


def welcome_recipients(actor: User, event_id: int, status: str | None = None,
                       page: int = 1, per_page: int = RECIPIENTS_PER_PAGE) -> RecipientPage:
    """Who got the event's welcomes (one each), like ``recipients`` for a single message."""
    get_event_for_organizer(actor, event_id, Action.SEE_DELIVERIES)
    report = _welcomes_report(event_id)
    if report is None:
        raise NotFound(_l("No one has been welcomed to this event yet."))
    welcomes = select(Notification.id).where(Notification.event_id == event_id, Notification.kind == NotificationKind.WELCOME)
    return _recipient_page(report, Delivery.notification_id.in_(welcomes), status, page, per_page)


def _recipient_page(report: NotificationReport, of_message, status: str | None, page: int, per_page: int) -> RecipientPage:
    statuses = {s.value: s for s in DeliveryStatus}
    if status is not None and status not in statuses:
        raise ValidationFailed.field("status", _l("Use one of: %(choices)s.", choices=", ".join(statuses)))
    if page < 1:
        raise ValidationFailed.field("page", _l("Pages start at 1."))
    if not 1 <= per_page <= RECIPIENTS_PER_PAGE_MAX:
        raise ValidationFailed.field("per_page", _l("Between 1 and %(count)s.", count=RECIPIENTS_PER_PAGE_MAX))
    matching = [of_message]
    if status is not None:
        matching.append(Delivery.status == statuses[status])
    total = db.session.scalar(select(func.count()).select_from(Delivery).where(*matching))
    outcome_order = case(
        {DeliveryStatus.FAILED: 0, DeliveryStatus.PENDING: 1, DeliveryStatus.SENT: 2}, value=Delivery.status, else_=3,
    )
    rows = db.session.execute(
        select(Delivery, User).join(Subscription, Subscription.id == Delivery.subscription_id)
        .join(User, User.id == Subscription.user_id).where(*matching)
        .order_by(outcome_order, Delivery.id).offset((page - 1) * per_page).limit(per_page)
    ).all()
    now = utcnow()
    return RecipientPage(
        report=report,
        rows=[
            RecipientRow(follower_label(user), delivery.channel, delivery.status.value, delivery.attempts,
                         delivery.sent_at, delivery.last_error,
                         waiting_label(delivery.waiting_for, delivery.waiting_until, now)
                         if delivery.status == DeliveryStatus.PENDING else None)
            for delivery, user in rows
        ],
        status=status, page=page, per_page=per_page, total=total,
    )


def newest_notification_id(actor: User, event_id: int | None = None) -> int:
    """The id of the newest message of one of the organizer's events (broadcasts of any of their
    events when ``event_id`` is None), 0 when there is none. An idle page polls with it, so it
    notices a broadcast started elsewhere (the API, a reminder) without rendering anything else."""
    query = select(func.max(Notification.id))
    if event_id is None:
        query = query.join(Event, Event.id == Notification.event_id).where(run_by(actor), Notification.subscription_id.is_(None))
    else:
        query = query.where(Notification.event_id == event_id)
    return db.session.scalar(query) or 0


def _reports_for(notifications: list[Notification]) -> list[NotificationReport]:
    """Reports for ``notifications``, in their order: two grouped queries for all of them."""
    ids = [n.id for n in notifications]
    counts: dict[int, dict[str, int]] = {i: {s.value: 0 for s in DeliveryStatus} for i in ids}
    failures: dict[int, list[tuple[str, int]]] = {i: [] for i in ids}
    if ids:
        for notification_id, status, count in db.session.execute(
            select(Delivery.notification_id, Delivery.status, func.count())
            .where(Delivery.notification_id.in_(ids)).group_by(Delivery.notification_id, Delivery.status)
        ):
            counts[notification_id][status.value] = count
        for notification_id, reason, count in db.session.execute(
            select(Delivery.notification_id, Delivery.last_error, func.count())
            .where(Delivery.notification_id.in_(ids), Delivery.status == DeliveryStatus.FAILED)
            .group_by(Delivery.notification_id, Delivery.last_error)
            .order_by(func.count().desc())
        ):
            failures[notification_id].append((reason or "unknown", count))
        _add_folded_tallies(ids, counts, failures)
    return [
        NotificationReport(n, counts[n.id], failures[n.id], unplanned=int(awaits_planning(n, any(counts[n.id].values()))))
        for n in notifications
    ]


def _add_folded_tallies(ids: list[int], counts: dict, failures: dict) -> None:
    """Deliveries that ledger retention folded away still count (see soonish/domain/retention.py)."""
    for tally in db.session.scalars(select(DeliveryTally).where(DeliveryTally.notification_id.in_(ids))):
        counts[tally.notification_id][tally.status.value] += tally.count
        if tally.status == DeliveryStatus.FAILED:
            reasons = dict(failures[tally.notification_id])
            reasons[tally.reason or "unknown"] = reasons.get(tally.reason or "unknown", 0) + tally.count
            failures[tally.notification_id] = sorted(reasons.items(), key=lambda item: -item[1])
