"""Many subscribers at once, written straight to the database (for crash tests and benchmarks)."""
from soonish.domain.delivery import mask_url
from soonish.domain import push
from soonish.models import Delivery, DeliveryStatus, Integration, Subscription, SubscriptionSelector, User, db
from soonish.services.integrations import cipher

from .sinks import wait_until

CHUNK = 1000


def seed_subscribers(app, event_id: int, count: int, webhook_url=None, prefix: str = "follower",
                     reminder_offsets: list[int] | None = None, push_subscription=None) -> None:
    """``count`` active subscribers of the event. With ``webhook_url(i)`` each gets a json://
    integration selected by its subscription, with ``push_subscription(i)`` (a browser's
    subscription JSON) a push device; without, each is reached at its email address."""
    with app.test_request_context():
        field_cipher = cipher()
        for start in range(0, count, CHUNK):
            users = [User(email=f"{prefix}{i}@example.com") for i in range(start, min(start + CHUNK, count))]
            db.session.add_all(users)
            db.session.flush()
            for i, user in enumerate(users, start):
                subscription = Subscription(event_id=event_id, user=user)
                if reminder_offsets is not None:
                    subscription.reminder_offsets = list(reminder_offsets)
                integration = None
                if webhook_url is not None:
                    url = webhook_url(i)
                    integration = Integration(user=user, name="hook", url_mask=mask_url(url),
                                              apprise_url_encrypted=field_cipher.encrypt(url))
                elif push_subscription is not None:
                    device = push.check_subscription(push_subscription(i), allow_private=True)
                    integration = Integration(user=user, name="Browser", url_mask=push.mask(device),
                                              push_subscription_encrypted=field_cipher.encrypt(device.to_json()),
                                              push_endpoint_hash=push.endpoint_hash(device.endpoint))
                if integration is not None:
                    subscription.selectors = [SubscriptionSelector(integration=integration)]
                    db.session.add(integration)
                db.session.add(subscription)
            db.session.commit()


def wait_for_sent(app, count: int, timeout: float) -> None:
    """Until the ledger holds ``count`` deliveries recorded as sent."""
    def all_sent() -> bool:
        with app.app_context():
            return db.session.query(Delivery).filter_by(status=DeliveryStatus.SENT).count() == count

    wait_until(all_sent, timeout=timeout, message=f"{count} deliveries recorded as sent")


def follow_in_chat(app, platform: str, workspace_id: str, user_id: str, event_ids: list[int]) -> None:
    """A chat person follows each event, as `subscribe` would make them (DM route)."""
    from soonish.services import chat, subscriptions

    with app.test_request_context():
        identity = chat.identity_for(platform, workspace_id, user_id)
        for event_id in event_ids:
            subscriptions.subscribe(identity.user, event_id, selectors=[chat.route_to(identity)])
