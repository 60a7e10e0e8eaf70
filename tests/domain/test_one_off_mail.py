"""The one-off mails (soonish.delivery.mail), composed with a database and no Temporal."""
from soonish.delivery.mail import OneOffKind, one_off_mail
from soonish.models import ChatIdentity, SubscriptionStatus, User, db


def test_a_confirm_mail_links_to_confirming_and_stops_once_confirmed(event, follow):
    subscription = follow("reader@example.com")
    subscription.status = SubscriptionStatus.PENDING
    db.session.commit()
    mail = one_off_mail(OneOffKind.CONFIRM, subscription.id, None, "wf-1")
    assert mail.address == "reader@example.com"
    assert mail.message.delivery_key == f"soonish-confirm-{subscription.id}-wf-1"
    assert mail.message.title == "Confirm: follow Launch"
    assert "http://soonish.test/s/confirm/" in mail.message.text
    assert mail.message.unsubscribe_url.startswith("http://soonish.test/s/unsubscribe/")
    subscription.status = SubscriptionStatus.ACTIVE
    db.session.commit()
    assert one_off_mail(OneOffKind.CONFIRM, subscription.id, None, "wf-2") is None


def test_verify_and_link_mails(domain_app):
    user = User(email="ada@example.com")
    identity = ChatIdentity(platform="discord", workspace_id="G1", external_user_id="1001", kind="user",
                            user=User(display_name="ada"))
    db.session.add_all([user, identity])
    db.session.commit()
    verify = one_off_mail(OneOffKind.VERIFY, user.id, None, "wf")
    assert verify.address == "ada@example.com" and "Confirm your email" in verify.message.title
    link = one_off_mail(OneOffKind.LINK, identity.id, "ada@example.com", "wf")
    assert link.address == "ada@example.com" and link.message.title == "Link your Discord account to Soonish"
    assert one_off_mail(OneOffKind.LINK, identity.id, None, "wf") is None
    assert one_off_mail(OneOffKind.VERIFY, 9999, None, "wf") is None
