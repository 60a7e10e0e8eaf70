"""The one-off mails (soonish.domain.delivery.mail), composed with a database and no Temporal."""
from datetime import timedelta

from soonish.domain.delivery.mail import OneOffKind, one_off_mail
from soonish.domain.offers import waitlist_offer
from soonish.models import (ChatIdentity, Community, CommunityInvite, CommunityRole, Integration, Rsvp, RsvpAnswer,
                            SubscriptionStatus, User, db, utcnow)


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


def test_channel_verification_and_reset_mails_find_the_address_by_id(domain_app):
    """The mail workflow carries ids and the address is read here (Temporal keeps histories
    after an erasure); a workflow started before that still carries the address, which must
    still be the channel's or an account's."""
    user = User(email="ada@example.com", display_name="Ada")
    user.set_password("correct horse battery")
    channel = Integration(user=user, name="work", url_mask="mailto://work.example", email_address="ada@work.example")
    db.session.add_all([user, channel])
    db.session.commit()

    verify = one_off_mail(OneOffKind.VERIFY_CHANNEL, channel.id, None, "wf")
    assert verify.address == "ada@work.example" and verify.message.title.startswith("Confirm: get Soonish updates")
    reset = one_off_mail(OneOffKind.RESET_PASSWORD, user.id, None, "wf")
    assert reset.address == "ada@example.com" and reset.message.title == "Reset your Soonish password"
    assert one_off_mail(OneOffKind.RESET_PASSWORD, 0, None, "wf") is None  # an address with no account

    # Started before: the address in the input.
    assert one_off_mail(OneOffKind.VERIFY_CHANNEL, channel.id, "ada@work.example", "wf").address == "ada@work.example"
    assert one_off_mail(OneOffKind.VERIFY_CHANNEL, channel.id, "someone@else.example", "wf") is None
    assert one_off_mail(OneOffKind.RESET_PASSWORD, 0, "ada@example.com", "wf").address == "ada@example.com"
    assert one_off_mail(OneOffKind.RESET_PASSWORD, 0, "nobody@example.com", "wf") is None


def test_a_confirm_mail_is_written_in_the_followers_language_then_their_accounts(event, follow):
    """The follow's language (remembered from the page it was made on), else the account's: the
    labels and the date are theirs; the organizer's title stays as written."""
    subscription = follow("leser@example.com")
    subscription.status, subscription.locale = SubscriptionStatus.PENDING, "de"
    db.session.commit()
    german = one_off_mail(OneOffKind.CONFIRM, subscription.id, None, "wf").message
    assert "<strong>Wann</strong>" in german.html and "Dez." in german.html and "Launch" in german.html
    subscription.locale, subscription.user.locale = None, "es"
    db.session.commit()
    spanish = one_off_mail(OneOffKind.CONFIRM, subscription.id, None, "wf").message
    assert "<strong>Cuándo</strong>" in spanish.html and "<strong>When</strong>" not in spanish.html
    assert '<html lang="es" dir="ltr">' in spanish.html


def test_a_waitlist_offer_is_written_in_the_followers_language(event, follow):
    """The offered person's follow of the event says their language, as for the confirm mail;
    the chat version is the same text under its subject."""
    subscription = follow("wartend@example.com")
    expires = (utcnow() + timedelta(hours=2)).replace(microsecond=0)
    rsvp = Rsvp(event=event, user=subscription.user, answer=RsvpAnswer.WAITLISTED, offer_expires_at=expires)
    db.session.add(rsvp)
    db.session.commit()
    english = waitlist_offer(rsvp.id, expires, "wf").message
    assert english.title == "A place opened up: Launch" and "When: " in english.text
    assert english.short == f"{english.title}\n{english.text}"
    subscription.locale = "de"
    db.session.commit()
    german = waitlist_offer(rsvp.id, expires, "wf").message
    assert "Wann: " in german.text and "<strong>Wann</strong>" in german.html and '<html lang="de"' in german.html


def test_an_invitation_without_its_inviter_says_someone_in_the_invitees_language(domain_app):
    community = Community(slug="choir", name="Choir")
    db.session.add_all([community, User(email="gast@example.com", locale="de")])
    db.session.flush()
    invitation = CommunityInvite(community=community, email="gast@example.com", role=CommunityRole.HOST,
                                 invited_by_id=None, expires_at=utcnow() + timedelta(days=7))
    db.session.add(invitation)
    db.session.commit()
    mail = one_off_mail(OneOffKind.COMMUNITY_INVITE, invitation.id, None, "wf").message
    assert mail.text.startswith("Jemand ") and "Someone" not in mail.text + mail.html
