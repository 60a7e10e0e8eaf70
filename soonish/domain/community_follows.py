"""Following a community: the three things a follow can bring, and a new event reaching its
followers once.

A follower chooses one of ``FollowMode``: "tell me about new events" (NEW_EVENTS), "a weekly
digest" (DIGEST) or "follow every new event" (EVERY_EVENT).

A new public event of a community leaves a COMMUNITY_EVENT_CREATED outbox row that no drain
takes before the update-coalescing window (UPDATE_COALESCE_SECONDS) has passed, so an event
created and cancelled (or hidden) within it tells nobody. Its handler (``tell_followers``) then,
in one transaction: gives every NEW_EVENTS follower a SUGGESTED subscription to the event (it
gets the message, nothing else, until its one-tap link makes it active) and every EVERY_EVENT
follower an ACTIVE one (with the follow's channels and the default reminders); records one
COMMUNITY_EVENT notification (its dedupe key makes a retried row find it and stop); and leaves
the outbox rows handing it to the event's workflow. From there it is a notification like any
other: the same fan-out, deliveries ledger (each message once), pacing and email fallback.
"""
from datetime import date, timedelta

from flask import current_app
from sqlalchemy import or_, select, update

from soonish.domain import messages, outbox, outgoing_webhooks
from soonish.domain.delivery.mail import OneOffKind, digest_events
from soonish.models import (
    DEFAULT_REMINDER_OFFSETS, Community, CommunityFollow, CommunityMember, CommunityRole, Event, EventStatus,
    FollowMode, Notification, NotificationKind, Series, SeriesFollow, Subscription, SubscriptionSelector,
    SubscriptionStatus, Visibility, WebhookEndpoint, db, insert_ignoring_duplicates, utcnow,
)

MODE_LABELS = {
    FollowMode.NEW_EVENTS: "Tell me about new events",
    FollowMode.DIGEST: "A weekly digest of what's coming",
    FollowMode.EVERY_EVENT: "Follow every new event",
}
# What a new event's fan-out subscribes each mode to (a digest follower is told on its day).
_SUBSCRIBED_AS = {FollowMode.NEW_EVENTS: SubscriptionStatus.SUGGESTED, FollowMode.EVERY_EVENT: SubscriptionStatus.ACTIVE}
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


def dedupe_key(event_id: int) -> str:
    return f"community-event-{event_id}"


def is_news(event: Event) -> bool:
    """Whether ``event`` is worth telling its community's followers about: public, still on and
    still ahead, in a community that is open."""
    community = db.session.get(Community, event.community_id) if event.community_id is not None else None
    return (community is not None and community.archived_at is None and event.visibility == Visibility.PUBLIC
            and event.status == EventStatus.SCHEDULED and event.starts_at > utcnow())


def event_created(event: Event) -> None:
    """In the creating transaction: tell the community's followers of ``event`` (flushed) once
    the update-coalescing window has passed. Nothing for an event that isn't public, nor in a
    community no one follows and no webhook listens to (most personal ones): no row to drain."""
    if event.community_id is None or event.visibility != Visibility.PUBLIC or not _anyone_listening(event):
        return
    window = timedelta(seconds=max(0.0, float(current_app.config["UPDATE_COALESCE_SECONDS"])))
    outbox.community_event_created(event, not_before=utcnow() + window)


def series_created(series: Series) -> None:
    """In the creating transaction (``series`` flushed), before its first occurrences are made:
    every EVERY_EVENT follower of the community follows a new public series whole, as if by hand
    (a series follow with the community follow's channels and the default reminders), so each
    occurrence subscribes them, now and as the daily run makes more. The others hear of the
    series through its first occurrence (``event_created``)."""
    if series.community_id is None or series.visibility != Visibility.PUBLIC:
        return
    follows = db.session.execute(select(CommunityFollow.user_id, CommunityFollow.selectors).where(
        CommunityFollow.community_id == series.community_id, CommunityFollow.status == SubscriptionStatus.ACTIVE,
        CommunityFollow.mode == FollowMode.EVERY_EVENT)).all()
    db.session.add_all(SeriesFollow(series_id=series.id, user_id=user_id, selectors=list(selectors or []),
                                    reminder_offsets=list(DEFAULT_REMINDER_OFFSETS)) for user_id, selectors in follows)
    db.session.flush()


def tell_followers(event_id: int) -> int | None:
    """The outbox row's work (see the module's docstring), committed at once. Returns the
    notification left for the event's workflow, or None when there is nothing to tell
    (cancelled or hidden meanwhile, or told already)."""
    event = db.session.get(Event, event_id)
    if event is None or not is_news(event):
        return None
    if db.session.scalar(select(Notification.id).where(Notification.dedupe_key == dedupe_key(event.id))) is not None:
        return None  # a retried row: the first run did it all
    community = db.session.get(Community, event.community_id)
    now = utcnow()
    follows = db.session.execute(
        select(CommunityFollow.id, CommunityFollow.user_id, CommunityFollow.mode, CommunityFollow.selectors).where(
            CommunityFollow.community_id == community.id, CommunityFollow.status == SubscriptionStatus.ACTIVE,
            CommunityFollow.mode.in_(list(_SUBSCRIBED_AS)))
    ).all()
    listeners = _told_of_new_events(community, event)
    if not follows:
        for owner_id in listeners:
            _record_webhook(owner_id, community, event)
        db.session.commit()
        return None  # no one follows the community now: no message to send, only the webhooks
    rows = [{"event_id": event.id, "user_id": user_id, "status": _SUBSCRIBED_AS[mode].value,
             "reminder_offsets": list(DEFAULT_REMINDER_OFFSETS), "community_follow_id": follow_id, "created_at": now,
             "confirmed_at": now if mode == FollowMode.EVERY_EVENT else None, "going_on_confirm": False,
             "listed_on_confirm": False}
            for follow_id, user_id, mode, _ in follows]
    # Whoever follows the event already (its host, say) keeps their own subscription and choices.
    for start in range(0, len(rows), 500):
        db.session.execute(insert_ignoring_duplicates(Subscription.__table__), rows[start:start + 500])
    _route_as_chosen(event.id, {follow_id: selectors for follow_id, _, _, selectors in follows if selectors})
    notification = Notification(
        event_id=event.id, kind=NotificationKind.COMMUNITY_EVENT,
        title=messages.community_event_title(community.name, event.title), body=messages.community_event_body(community.name), dedupe_key=dedupe_key(event.id), author_id=event.organizer_id)
    db.session.add(notification)
    db.session.flush()
    outbox.notify(event, notification)
    if any(mode == FollowMode.EVERY_EVENT for _, _, mode, _ in follows):
        outbox.reminders_changed(event)
    for owner_id in listeners:
        _record_webhook(owner_id, community, event)
    db.session.commit()
    return notification.id


def _record_webhook(owner_id: int, community: Community, event: Event) -> None:
    outgoing_webhooks.record_messages(owner_id, "community.event_created", {
        "community": {"id": community.id, "slug": community.slug, "name": community.name},
        "event": outgoing_webhooks.event_data(event)}, dedupe_key=dedupe_key(event.id))


def _anyone_listening(event: Event) -> bool:
    """Someone follows the event's community, or an owner's or the host's webhook endpoint takes
    community.event_created."""
    if db.session.scalar(select(CommunityFollow.id).where(
            CommunityFollow.community_id == event.community_id,
            CommunityFollow.status == SubscriptionStatus.ACTIVE).limit(1)) is not None:
        return True
    community = db.session.get(Community, event.community_id)
    listeners = _told_of_new_events(community, event)
    return any("community.event_created" in endpoint.event_types for endpoint in db.session.scalars(
        select(WebhookEndpoint).where(WebhookEndpoint.user_id.in_(listeners), WebhookEndpoint.is_active.is_(True))))


def _route_as_chosen(event_id: int, selectors_by_follow: dict[int, list[dict]]) -> None:
    """Give the new subscriptions of follows that chose where their messages go (a chat DM or
    channel) those routes; the others go to the follower's email address."""
    if not selectors_by_follow:
        return
    made = db.session.execute(select(Subscription.id, Subscription.community_follow_id).where(
        Subscription.event_id == event_id, Subscription.community_follow_id.in_(list(selectors_by_follow)),
        ~Subscription.selectors.any())).all()
    db.session.add_all(
        SubscriptionSelector(subscription_id=subscription_id, integration_id=item.get("integration_id"),
                             tag=item.get("tag"), chat_identity_id=item.get("chat_identity_id"))
        for subscription_id, follow_id in made for item in selectors_by_follow[follow_id])


def _told_of_new_events(community: Community, event: Event) -> set[int]:
    """Whose webhook endpoints hear community.event_created: the community's owners and the host."""
    owners = set(db.session.scalars(select(CommunityMember.user_id).where(
        CommunityMember.community_id == community.id, CommunityMember.role == CommunityRole.OWNER)))
    return owners | {event.organizer_id}


# The weekly digest -----------------------------------------------------------------------------


def digest_community_ids(today: date, after: int = 0) -> list[int]:
    """The open communities whose digest day is ``today``, by id, past ``after`` (the day's
    round works through them in order and resumes after the last it did)."""
    return list(db.session.scalars(select(Community.id).where(
        Community.digest_weekday == today.weekday(), Community.archived_at.is_(None), Community.id > after)
        .order_by(Community.id)))


def send_digest(community_id: int, today: date) -> int:
    """Leave ``today``'s digest mails of one community: one per DIGEST follower, none when
    nothing is coming. A follow is marked sent for the day by one conditional update, so a rerun
    of the day's round mails nobody twice. Commits; returns the mails left."""
    community = db.session.get(Community, community_id)
    if community is None or not digest_events(community, today):
        return 0
    marked = db.session.execute(
        update(CommunityFollow).where(
            CommunityFollow.community_id == community.id, CommunityFollow.mode == FollowMode.DIGEST,
            CommunityFollow.status == SubscriptionStatus.ACTIVE,
            or_(CommunityFollow.digest_sent_on.is_(None), CommunityFollow.digest_sent_on < today))
        .values(digest_sent_on=today).returning(CommunityFollow.id)
        .execution_options(synchronize_session=False)).scalars().all()
    for follow_id in marked:
        outbox.one_off_mail(OneOffKind.COMMUNITY_DIGEST, follow_id)
    db.session.commit()
    return len(marked)
