"""Composing mail: the MIME message for any ``Message`` (broadcasts and one-offs alike), the
links a mail carries, and the one-off mails (confirm a subscription, verify an address, link a
chat account). Runs inside the app context (templates, config, database)."""
import binascii
import uuid
from collections import OrderedDict
from datetime import date, datetime, time, timedelta, timezone
from collections.abc import Callable
from dataclasses import dataclass
from types import FunctionType
from email.charset import QP, Charset
from email.encoders import encode_base64
from email.header import Header
from email.message import EmailMessage
from email.message import Message as MimeMessage
from email.mime.base import MIMEBase
from email.mime.multipart import MIMEMultipart
from email.mime.nonmultipart import MIMENonMultipart
from email.mime.text import MIMEText
from email.policy import Compat32
from email.utils import formataddr, formatdate, parseaddr

from flask import current_app, render_template

from soonish.domain.chat_markup import ChatPlatform
from soonish.links import (
    LinkPurpose, change_email_path, community_follow_confirm_path, community_follow_manage_path,
    community_follow_unsubscribe_path, follow_suggested_path, community_invite_path, confirm_path, delete_account_path, event_path, forget_address_path,
    lift_suppression_path,
    address_tag, leave_series_path, link_chat_path, manage_path, verify_channel_path, public_url, reset_password_path, rsvp_path, rsvp_token, series_follow_confirm_path, sign, undo_email_change_path,
    unsubscribe_path, verify_email_path,
)
from sqlalchemy import select

from soonish.domain.chat_installations import REMOVED_WHY
from soonish.models import (ChatIdentity, ChatInstallation, Community, CommunityFollow, CommunityInvite, Event,
                            EventStatus, Integration, Notification, Series, SeriesFollow, Subscription, SubscriptionStatus, User, Visibility,
                            db, utcnow)
from soonish.domain import ics
from soonish.domain.messages import Attachment, Message, RecipientLinks, reader_locale, takes_rsvps, when_text
from soonish.i18n import _, _l, is_rtl, render_in
from soonish.domain.share import calendar_links

_UTF8_QP = Charset("utf-8")
_UTF8_QP.header_encoding = _UTF8_QP.body_encoding = QP
_MAX_7BIT_LINE = 78  # what EmailMessage's default policy sends as 7bit


class _PlainHeaderPolicy(Compat32):
    """compat32, writing a plain ASCII header as it is: compat32 runs every header through
    email.header.Header to encode and fold it (about 35 µs each, half a millisecond a mail),
    which leaves a plain one as it was anyway."""

    def fold_binary(self, name, value):
        if isinstance(value, str) and value.isascii() and "\n" not in value and "\r" not in value \
                and len(name) + 2 + len(value) <= self.max_line_length:
            return f"{name}: {value}{self.linesep}".encode("ascii")
        return super().fold_binary(name, value)


# compat32 would fold a long header as "Name: \r\n <value>", which parses back with a leading
# space; fold only past SMTP's hard line limit instead (encoded words still fold at 76).
_FAST_POLICY = _PlainHeaderPolicy(max_line_length=998)


def _text_part(body: str, subtype: str) -> MIMEBase:
    body = "\n".join(body.splitlines()) + "\n"  # as EmailMessage.set_content stores it
    if body.isascii() and all(len(line) <= _MAX_7BIT_LINE for line in body.splitlines()):
        part = MIMEText(body, subtype, "us-ascii")
    else:
        # Quoted-printable by binascii's C encoder: the email package's own (quoprimime) walks
        # the body a character at a time in Python, 7% of the worker's CPU per confirm mail.
        part = MIMENonMultipart("text", subtype, charset="utf-8")
        part["Content-Transfer-Encoding"] = "quoted-printable"
        part.set_payload(binascii.b2a_qp(body.encode(), istext=True).decode("ascii"))
    del part["MIME-Version"]
    return part


def _fast_mail(message: Message, sender: str, to: str) -> MimeMessage | None:
    """The same mail as ``_full_mail`` built with the email package's compat32 classes, which
    store headers as given instead of parsing each one (≈0.2 ms instead of ≈1.1 ms a mail).
    Only for plain input: ASCII addresses, no line breaks in any header value; otherwise None."""
    sender_name, sender_address = parseaddr(sender)
    headers = [message.title, message.delivery_key, message.unsubscribe_url or "", sender_name]
    if not (sender_address.isascii() and "@" in sender_address and to.isascii()) or any(
        "\r" in value or "\n" in value for value in headers + [sender, to]
    ):
        return None
    if message.html:
        # A boundary of our own: left unset, the generator makes one and compiles a regex for it
        # to search the parts with (a new pattern per mail, 0.2 ms of ~0.9). 122 random bits
        # can't occur in a body by chance.
        mail = MIMEMultipart("alternative", boundary=f"=_soonish_{uuid.uuid4().hex}",
                             policy=_FAST_POLICY)  # it carries MIME-Version
        mail.attach(_text_part(message.text, "plain"))
        mail.attach(_text_part(message.html, "html"))
    else:
        mail = _text_part(message.text, "plain")
        mail.policy = _FAST_POLICY
        mail["MIME-Version"] = "1.0"
    if message.attachments:
        body, mail = mail, MIMEMultipart("mixed", boundary=f"=_soonish_{uuid.uuid4().hex}", policy=_FAST_POLICY)
        del body["MIME-Version"]
        mail.attach(body)
        for attachment in message.attachments:
            maintype, subtype, params = _content_type(attachment)
            part = MIMEBase(maintype, subtype, **params)
            del part["MIME-Version"]
            part.set_payload(attachment.data)
            encode_base64(part)
            part.add_header("Content-Disposition", "attachment", filename=attachment.filename)
            mail.attach(part)
    mail["From"] = formataddr((sender_name, sender_address), charset="utf-8")
    mail["To"] = to
    mail["Subject"] = message.title if message.title.isascii() else Header(message.title, _UTF8_QP)
    mail["Date"] = formatdate(localtime=False)
    sender_domain = sender_address.rsplit("@", 1)[-1] or "soonish.localhost"
    mail["Message-ID"] = f"<{message.delivery_key}@{sender_domain}>"
    mail["X-Soonish-Delivery"] = message.delivery_key
    if message.unsubscribe_url:
        mail["List-Unsubscribe"] = f"<{message.unsubscribe_url}>"
        mail["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    return mail


def compose_mail(message: Message, sender: str, to: str) -> EmailMessage | MimeMessage:
    """The mail for ``message``: text, and HTML when there is some, with a stable Message-ID,
    and its attachments."""
    return _fast_mail(message, sender, to) or _full_mail(message, sender, to)


def _content_type(attachment: Attachment) -> tuple[str, str, dict[str, str]]:
    """"text/calendar; method=PUBLISH" → ("text", "calendar", {"method": "PUBLISH"})."""
    kind, *params = (part.strip() for part in attachment.content_type.split(";"))
    maintype, subtype = kind.split("/")
    return maintype, subtype, dict(param.split("=", 1) for param in params)


def _full_mail(message: Message, sender: str, to: str) -> EmailMessage:
    mail = EmailMessage()
    mail["From"] = sender
    mail["To"] = to
    mail["Subject"] = message.title
    mail["Date"] = formatdate(localtime=False)
    sender_domain = sender.rsplit("@", 1)[-1].rstrip(">") or "soonish.localhost"
    # Stable per delivery: a repeat after a crash carries the same id and is dropped.
    mail["Message-ID"] = f"<{message.delivery_key}@{sender_domain}>"
    mail["X-Soonish-Delivery"] = message.delivery_key
    if message.unsubscribe_url:
        mail["List-Unsubscribe"] = f"<{message.unsubscribe_url}>"
        mail["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    mail.set_content(message.text)
    if message.html:
        mail.add_alternative(message.html, subtype="html")
    for attachment in message.attachments:
        maintype, subtype, params = _content_type(attachment)
        mail.add_attachment(attachment.data, maintype=maintype, subtype=subtype, filename=attachment.filename,
                            params=params)
    return mail


# Links ------------------------------------------------------------------------------------


def absolute_url(path: str) -> str:
    return public_url(current_app.config["PUBLIC_URL"], path)


def signed_url(purpose: str, fields, path: Callable[[str], str]) -> str:
    """The link to ``path`` carrying ``fields`` signed for ``purpose`` (what the page opened by it checks)."""
    return absolute_url(path(sign(current_app.config["SECRET_KEY"], purpose, fields)))


def recipient_links(subscription: Subscription, rsvp_address: str | None = None,
                    series_followers: set[int] | None = None) -> RecipientLinks:
    """The manage and one-click unsubscribe links of one subscription's mails, "forget my
    address" for a follower by email alone (no account), and, given ``rsvp_address``, the
    one-tap going / maybe / can't go page for that address (``series_followers``: who follows
    the event's series, when the caller has them for many mails)."""
    secret = current_app.config["SECRET_KEY"]
    token = sign(secret, LinkPurpose.MANAGE, subscription.id)
    user = subscription.user
    forget = None
    if user.password_hash is None and user.email:
        forget = signed_url(LinkPurpose.FORGET_ADDRESS, [user.id, user.email], forget_address_path)
    rsvp_url = absolute_url(rsvp_path(rsvp_token(secret, subscription.event_id, subscription.user_id, rsvp_address))) \
        if rsvp_address else None
    leave_token = leave_series_token(subscription, series_followers)
    return RecipientLinks(absolute_url(manage_path(token)), absolute_url(unsubscribe_path(token)), forget,
                          rsvp_url, leave_series_url=absolute_url(leave_series_path(leave_token)) if leave_token else None)


def series_followers(series_id: int | None) -> set[int]:
    """The ids of the people following the series as a series (none for a lone event)."""
    if series_id is None:
        return set()
    return set(db.session.scalars(select(SeriesFollow.user_id).where(SeriesFollow.series_id == series_id)))


def leave_series_token(subscription: Subscription, followers: set[int] | None = None) -> str | None:
    """The signed "leave the whole series" token for a subscription to an occurrence of a series
    its person follows as a series (``followers``, or asked); None otherwise (leaving the event
    alone is unsubscribing)."""
    series_id = subscription.event.series_id
    if series_id is None:
        return None
    if subscription.user_id not in (followers if followers is not None else series_followers(series_id)):
        return None
    return sign(current_app.config["SECRET_KEY"], LinkPurpose.LEAVE_SERIES, [series_id, subscription.user_id])


def community_follow_links(follow_id: int) -> tuple[str, str]:
    """The manage and one-click unsubscribe links of a community follow's mails."""
    token = sign(current_app.config["SECRET_KEY"], LinkPurpose.MANAGE_COMMUNITY_FOLLOW, follow_id)
    return absolute_url(community_follow_manage_path(token)), absolute_url(community_follow_unsubscribe_path(token))


def new_event_links(subscription: Subscription) -> RecipientLinks:
    """The links of a community's new-event message: the community follow's manage and
    unsubscribe, and for someone told (not following) the one-tap "follow this event"."""
    manage_url, unsubscribe_url = community_follow_links(subscription.community_follow_id)
    follow_url = None
    if subscription.status == SubscriptionStatus.SUGGESTED:
        follow_url = signed_url(LinkPurpose.FOLLOW_SUGGESTED, subscription.id, follow_suggested_path)
    return RecipientLinks(manage_url, unsubscribe_url, follow_url=follow_url)


# One-off mails ----------------------------------------------------------------------------


@dataclass(frozen=True)
class OneOffMail:
    address: str
    message: Message


class OneOffKind:
    """What a one-off mail is about; the subject id is a subscription, a user or a chat identity."""

    CONFIRM = "confirm"
    VERIFY = "verify"
    LINK = "link"
    VERIFY_CHANNEL = "verify_channel"  # integration id (an email channel), to its address
    # Account mails: each reads the account at send time and signs its link then, so a link
    # carries the account's current token epoch (it works once, and not after "sign out everywhere").
    RESET_PASSWORD = "reset"  # user id, or 0 for an address with no account (nothing is sent)
    CHANGE_EMAIL = "email_change"  # user id, to the new ``address``
    EMAIL_CHANGED = "email_changed"  # user id, to the old ``address``, with an undo link
    DELETE_ACCOUNT = "delete_account"  # user id
    BROADCAST_PAUSED = "broadcast_paused"  # notification id, to its event's organizer
    CHAT_REMOVED = "chat_removed"  # chat installation id: to the account that added our app
    COMMUNITY_INVITE = "community_invite"  # community invite id, to the address it was made for
    COMMUNITY_FOLLOW = "community_follow"  # a pending community follow: its confirm link
    COMMUNITY_DIGEST = "community_digest"  # a digest community follow: what is coming this week
    DEVICE_REMOVED = "device_removed"  # user id (with the device's name): its push service said it is gone
    SERIES_FOLLOW = "series_follow"  # series id, to ``address``: the confirm link of a follow by email
    # User id: the link that lifts their address's suppression, mailed to that suppressed address
    # (the one mail it gets: its owner asked for it, and opening it shows the address works).
    LIFT_SUPPRESSION = "lift_suppression"


# How far ahead a community's weekly digest looks.
DIGEST_DAYS_AHEAD = 7


def _one_off(key: str, template: str, title, context: dict, locale: str | None,
             unsubscribe_url: str | None = None, attachments: tuple[Attachment, ...] = ()) -> Message:
    """A mail from its text and HTML templates, subject (``title``, lazy) and all written in
    ``locale``: the recipient's (their follow's, else their account's), else English. A context
    value that is a callable of the locale (a date, a word) is said the same way."""
    with render_in(locale) as chosen:
        context = {name: value(chosen) if isinstance(value, FunctionType) else value for name, value in context.items()}
        context.update(lang=chosen.replace("_", "-"), rtl=is_rtl(chosen))
        return Message(
            delivery_key=key,
            title=str(title),
            text=render_template(f"mail/{template}.txt", **context),
            short="",
            html=render_template(f"mail/{template}.html", **context),
            unsubscribe_url=unsubscribe_url,
            attachments=attachments,
        )


def _locale_of(user: User | None) -> str | None:
    """The language ``user`` chose to read Soonish in (None: English)."""
    return user.locale if user is not None else None


# A burst of follows mails one event's ticket thousands of times: what is the same for every
# follower (the calendar entry, about 1.2 ms to make; the calendar links and the date in the
# reader's language, about a sixth of the rest of a confirm mail) is made once per version of
# the event and language, for the last few events.
_EVENT_PARTS: OrderedDict[tuple, object] = OrderedDict()
EVENT_PARTS_KEPT = 192


def _event_part(kind: str, event: Event, event_url: str, locale: str | None, make: Callable[[], object]):
    key = (kind, event.id, event.version, event.updated_at, event_url, locale)
    part = _EVENT_PARTS.get(key)
    if part is None:
        part = _EVENT_PARTS[key] = make()
        while len(_EVENT_PARTS) > EVENT_PARTS_KEPT:
            _EVENT_PARTS.popitem(last=False)
    return part


def event_ics(event: Event, event_url: str, locale: str | None) -> Attachment:
    """The event as a calendar entry to open in one tap (iTIP PUBLISH: an entry to add, not an
    invitation to answer; its UID and SEQUENCE are the downloads' and feeds', so a later edit
    replaces it), described in the mail's language."""

    def make() -> bytes:
        with render_in(locale):
            return ics.event_calendar(event, event_url, method="PUBLISH")

    data = _event_part("ics", event, event_url, locale, make)
    return Attachment(f"{event.slug}.ics", "text/calendar; method=PUBLISH; charset=utf-8", data)


def _confirm_mail(subscription_id: int, address: str | None, key: str) -> OneOffMail | None:
    subscription = db.session.get(Subscription, subscription_id)
    if subscription is None or subscription.status != SubscriptionStatus.PENDING:
        return None
    event = subscription.event
    confirm_url = signed_url(LinkPurpose.CONFIRM, subscription.id, confirm_path)
    links = recipient_links(subscription, subscription.user.email)
    event_url = absolute_url(event_path(event.slug))
    context = dict(
        event=event, when=lambda locale: _event_part("when", event, event_url, locale, lambda: when_text(event, locale=locale)),
        confirm_url=confirm_url, links=links, rsvp=takes_rsvps(event), event_url=event_url,
        calendar=_event_part("calendar links", event, event_url, None, lambda: calendar_links(event, event_url)))
    # The mail is also their ticket: when and where, the RSVP links and the calendar entry.
    locale = reader_locale(subscription)
    message = _one_off(f"soonish-confirm-{subscription.id}-{key}", "confirm",
                       _l("Confirm: follow %(title)s", title=event.title), context, locale,
                       unsubscribe_url=links.unsubscribe_url, attachments=(event_ics(event, event_url, locale),))
    return OneOffMail(subscription.user.email, message)


def _verify_mail(user_id: int, address: str | None, key: str) -> OneOffMail | None:
    user = db.session.get(User, user_id)
    if user is None or not user.email:
        return None
    context = dict(verify_url=signed_url(LinkPurpose.VERIFY_EMAIL, user.id, verify_email_path), user=user)
    return OneOffMail(user.email, _one_off(f"soonish-verify-{user.id}-{key}", "verify",
                                           _l("Confirm your email for Soonish"), context, _locale_of(user)))


def _link_mail(identity_id: int, address: str | None, key: str) -> OneOffMail | None:
    identity = db.session.get(ChatIdentity, identity_id)
    if identity is None or not address:
        return None
    platform = ChatPlatform(identity.platform).display_name
    context = dict(link_url=signed_url(LinkPurpose.LINK_CHAT, [identity.id, address], link_chat_path), address=address,
                   platform=platform)
    return OneOffMail(address, _one_off(f"soonish-link-{identity.id}-{key}", "link_chat",
                                        _l("Link your %(platform)s account to Soonish", platform=platform), context,
                                        identity.locale))


def _verify_channel_mail(integration_id: int, address: str | None, key: str) -> OneOffMail | None:
    """To the channel's address, read here. Mails started before the address stayed out of
    Temporal name it, and go only if it is still the channel's."""
    integration = db.session.get(Integration, integration_id)
    if integration is None or not integration.awaiting_verification:
        return None
    if address is None:
        address = integration.email_address
    elif integration.email_address != address:
        return None
    secret = current_app.config["SECRET_KEY"]
    token = sign(secret, LinkPurpose.VERIFY_CHANNEL, [integration.id, address_tag(secret, address)])
    context = dict(verify_url=absolute_url(verify_channel_path(token)), address=address, owner=integration.owner_name,
                   days=current_app.config["EMAIL_CHANNEL_LINK_MAX_AGE"] // 86400 or 1)
    return OneOffMail(address, _one_off(f"soonish-verify-channel-{integration.id}-{key}", "verify_channel",
                                        _l("Confirm: get Soonish updates at this address"), context,
                                        _locale_of(integration.user)))


def _account(user_id: int) -> User | None:
    user = db.session.get(User, user_id)
    return None if user is None or user.erased_at is not None or not user.email else user


def _reset_password_mail(user_id: int, address: str | None, key: str) -> OneOffMail | None:
    """To the account ``user_id``; mails started before the address stayed out of Temporal name
    the address instead (subject 0), and go to the account that has it."""
    if address is None:
        user = db.session.get(User, user_id)
    else:
        user = db.session.scalar(select(User).where(User.email == address))
    if user is None or user.password_hash is None or user.erased_at is not None:
        return None
    return _account_link_mail(user, LinkPurpose.RESET_PASSWORD, reset_password_path, "reset_url",
                              f"soonish-reset-{user.id}-{key}", "reset_password", _l("Reset your Soonish password"))


def _change_email_mail(user_id: int, address: str | None, key: str) -> OneOffMail | None:
    if (user := _account(user_id)) is None or not address:
        return None
    context = dict(confirm_url=signed_url(LinkPurpose.CHANGE_EMAIL, [user.id, user.email, address], change_email_path),
                   old=user.email, new=address)
    return OneOffMail(address, _one_off(f"soonish-email-change-{user.id}-{key}", "change_email",
                                        _l("Confirm your new email for Soonish"), context, _locale_of(user)))


def _email_changed_mail(user_id: int, address: str | None, key: str) -> OneOffMail | None:
    if (user := _account(user_id)) is None or not address:
        return None
    context = dict(undo_url=signed_url(LinkPurpose.UNDO_EMAIL_CHANGE, [user.id, address, user.email], undo_email_change_path),
                   old=address, new=user.email)
    return OneOffMail(address, _one_off(f"soonish-email-changed-{user.id}-{key}", "email_changed",
                                        _l("Your Soonish email address was changed"), context, _locale_of(user)))


def _delete_account_mail(user_id: int, address: str | None, key: str) -> OneOffMail | None:
    if (user := _account(user_id)) is None:
        return None
    return _account_link_mail(user, LinkPurpose.DELETE_ACCOUNT, delete_account_path, "delete_url",
                              f"soonish-delete-{user.id}-{key}", "delete_account", _l("Confirm: delete your Soonish account"))


def _account_link_mail(user: User, purpose: str, path: Callable[[str], str], url_name: str, key: str, template: str,
                       title) -> OneOffMail:
    """To the account's address: a link (``url_name`` in the template) that works for a few hours
    and while the account's token epoch is the one it names (services.credentials reads it so)."""
    context = {url_name: signed_url(purpose, [user.id, user.token_epoch], path), "hours": _link_hours()}
    return OneOffMail(user.email, _one_off(key, template, title, context, _locale_of(user)))


def _link_hours() -> int:
    """How many hours an account's mailed link works (what its mail tells the reader)."""
    return current_app.config["ACCOUNT_LINK_MAX_AGE"] // 3600 or 1


def _lift_suppression_mail(user_id: int, address: str | None, key: str) -> OneOffMail | None:
    from soonish.domain.mail_reputation import suppression_mark, suppression_of

    if (user := _account(user_id)) is None or (entry := suppression_of(user.email)) is None:
        return None  # lifted meanwhile, or the address changed
    context = dict(lift_url=signed_url(LinkPurpose.LIFT_SUPPRESSION, [user.id, suppression_mark(entry)], lift_suppression_path),
                   hours=_link_hours())
    return OneOffMail(user.email, _one_off(f"soonish-lift-{user.id}-{key}", "lift_suppression",
                                           _l("Start mail to this address again"), context, _locale_of(user)))


def _broadcast_paused_mail(notification_id: int, address: str | None, key: str) -> OneOffMail | None:
    """To the organizer: their broadcast bounced too often and waits (domain.mail_reputation)."""
    from soonish.domain.mail_reputation import bounce_rate

    notification = db.session.get(Notification, notification_id)
    organizer = notification.event.organizer if notification is not None else None
    if organizer is None or not organizer.email or organizer.erased_at is not None:
        return None
    bounced, mailed = bounce_rate(notification_id)
    report_url = absolute_url(f"/events/{notification.event_id}/messages/{notification_id}")
    context = dict(notification=notification, bounced=bounced, mailed=mailed,
                   percent=round(100 * bounced / max(mailed, 1)), report_url=report_url)
    return OneOffMail(organizer.email, _one_off(f"soonish-paused-{notification_id}-{key}", "broadcast_paused",
                                                _l("Paused: %(title)s", title=notification.title), context,
                                                _locale_of(organizer)))


def _chat_removed_mail(installation_id: int, address: str | None, key: str) -> OneOffMail | None:
    installation = db.session.get(ChatInstallation, installation_id)
    if installation is None or installation.installed_by_id is None or installation.is_active:
        return None
    if (user := _account(installation.installed_by_id)) is None:
        return None
    workspace = installation.workspace_name or installation.workspace_id
    context = dict(workspace=workspace, platform=ChatPlatform(installation.platform).display_name,
                   why=REMOVED_WHY.get(installation.removed_reason or "", installation.removed_reason),
                   channels_url=absolute_url("/channels"))
    return OneOffMail(user.email, _one_off(f"soonish-chat-removed-{installation.id}-{key}", "chat_removed",
                                           _l("Soonish was removed from %(workspace)s", workspace=workspace), context,
                                           _locale_of(user)))


def _device_removed_mail(user_id: int, address: str | None, key: str, device: str = "") -> OneOffMail | None:
    """To a device's owner: its push service said the subscription is gone, so the channel was
    removed (what it missed went to their email when they have the fallback on)."""
    if (user := _account(user_id)) is None or not user.is_verified:
        return None
    title = _l("%(device)s no longer gets notifications", device=device)
    context = dict(title=title, device=device, channels_url=absolute_url("/channels"), fallback=user.email_fallback)
    return OneOffMail(user.email, _one_off(f"soonish-device-removed-{user.id}-{key}", "device_removed", title, context,
                                           _locale_of(user)))


def _community_invite_mail(invite_id: int, address: str | None, key: str) -> OneOffMail | None:
    invitation = db.session.get(CommunityInvite, invite_id)
    if invitation is None or invitation.accepted_at is not None:
        return None
    inviter = db.session.get(User, invitation.invited_by_id) if invitation.invited_by_id else None
    inviter_name = inviter.display_name if inviter else ""
    context = dict(accept_url=signed_url(LinkPurpose.COMMUNITY_INVITE, invitation.id, community_invite_path), community=invitation.community,
                   role=invitation.role.value, inviter=lambda locale: inviter_name or _("Someone"),
                   days=current_app.config["COMMUNITY_INVITE_MAX_AGE"] // 86400 or 1)
    return OneOffMail(invitation.email, _one_off(f"soonish-community-invite-{invitation.id}-{key}", "community_invite",
                                                 _l("Help run %(community)s on Soonish", community=invitation.community.name),
                                                 context, _invitee_locale(invitation, inviter)))


def _invitee_locale(invitation: CommunityInvite, inviter: User | None) -> str | None:
    """The invitee's language when their address has an account, else the inviter's (they likely
    share one)."""
    invitee = db.session.scalar(select(User).where(User.email == invitation.email))
    return (invitee.locale if invitee is not None else None) or _locale_of(inviter)


def _community_follow_mail(follow_id: int, address: str | None, key: str) -> OneOffMail | None:
    follow = db.session.get(CommunityFollow, follow_id)
    if follow is None or follow.status != SubscriptionStatus.PENDING or not follow.user.email:
        return None
    manage_url, unsubscribe_url = community_follow_links(follow.id)
    confirm_url = signed_url(LinkPurpose.CONFIRM_COMMUNITY_FOLLOW, follow.id, community_follow_confirm_path)
    context = dict(community=follow.community, confirm_url=confirm_url, mode=follow.mode, unsubscribe_url=unsubscribe_url)
    return OneOffMail(follow.user.email, _one_off(f"soonish-community-follow-{follow.id}-{key}", "community_follow",
                                                  _l("Confirm: follow %(title)s", title=follow.community.name), context,
                                                  _locale_of(follow.user), unsubscribe_url=unsubscribe_url))


def _series_follow_mail(series_id: int, address: str | None, key: str, locale: str | None = None) -> OneOffMail | None:
    """The confirm link of a series followed by email: it carries the series and the address
    (nothing is stored before its owner clicks it), and the series' next occurrence is attached."""
    series = db.session.get(Series, series_id)
    if series is None or not address:
        return None
    upcoming = db.session.scalar(select(Event).where(Event.series_id == series.id, Event.starts_at > utcnow(),
                                                     Event.status == EventStatus.SCHEDULED).order_by(Event.starts_at).limit(1))
    event_url = absolute_url(event_path(upcoming.slug)) if upcoming is not None else None
    confirm_url = signed_url(LinkPurpose.CONFIRM_SERIES_FOLLOW, [series.id, address], series_follow_confirm_path)
    context = dict(series=series, confirm_url=confirm_url,
                   series_url=absolute_url(f"/series/{series.slug}"), event=upcoming,
                   when=(lambda locale: when_text(upcoming, locale=locale)) if upcoming is not None else None)
    # In the language of the account the address has, else the one the follow was asked in.
    reader = db.session.scalar(select(User).where(User.email == address))
    return OneOffMail(address, _one_off(
        f"soonish-series-follow-{series.id}-{key}", "series_follow", _l("Confirm: follow %(title)s", title=series.title),
        context, _locale_of(reader) or locale,
        attachments=(event_ics(upcoming, event_url, _locale_of(reader) or locale),) if upcoming is not None else ()))


def digest_events(community: Community, today: date) -> list[Event]:
    """What a digest on ``today`` lists: the community's public events of the coming week."""
    start = datetime.combine(today, time(), tzinfo=timezone.utc)
    return list(db.session.scalars(
        select(Event).where(Event.community_id == community.id, Event.visibility == Visibility.PUBLIC,
                            Event.status == EventStatus.SCHEDULED, Event.starts_at > utcnow(),
                            Event.starts_at < start + timedelta(days=DIGEST_DAYS_AHEAD + 1))
        .order_by(Event.starts_at)))


def _community_digest_mail(follow_id: int, address: str | None, key: str) -> OneOffMail | None:
    """What is coming in the follow's community this week (nothing to send when nothing is, or
    when the follow ended since the round left this mail)."""
    follow = db.session.get(CommunityFollow, follow_id)
    if follow is None or follow.status != SubscriptionStatus.ACTIVE or not follow.user.email:
        return None
    community = db.session.get(Community, follow.community_id)
    events = digest_events(community, (follow.digest_sent_on or utcnow().date()))
    if not events:
        return None
    manage_url, unsubscribe_url = community_follow_links(follow.id)
    context = dict(community=community,
                   events=lambda locale: [(e, when_text(e, locale=locale), absolute_url(event_path(e.slug))) for e in events],
                   manage_url=manage_url, unsubscribe_url=unsubscribe_url,
                   community_url=absolute_url(f"/c/{community.slug}"))
    return OneOffMail(follow.user.email, _one_off(f"soonish-digest-{follow.id}-{key}", "community_digest",
                                                  _l("Coming up at %(community)s", community=community.name), context,
                                                  _locale_of(follow.user), unsubscribe_url=unsubscribe_url))


_ONE_OFF_MAILS: dict[str, Callable[[int, str | None, str], OneOffMail | None]] = {
    OneOffKind.CONFIRM: _confirm_mail,
    OneOffKind.VERIFY: _verify_mail,
    OneOffKind.LINK: _link_mail,
    OneOffKind.VERIFY_CHANNEL: _verify_channel_mail,
    OneOffKind.RESET_PASSWORD: _reset_password_mail,
    OneOffKind.CHANGE_EMAIL: _change_email_mail,
    OneOffKind.EMAIL_CHANGED: _email_changed_mail,
    OneOffKind.DELETE_ACCOUNT: _delete_account_mail,
    OneOffKind.BROADCAST_PAUSED: _broadcast_paused_mail,
    OneOffKind.CHAT_REMOVED: _chat_removed_mail,
    OneOffKind.COMMUNITY_INVITE: _community_invite_mail,
    OneOffKind.COMMUNITY_FOLLOW: _community_follow_mail,
    OneOffKind.COMMUNITY_DIGEST: _community_digest_mail,
    OneOffKind.DEVICE_REMOVED: _device_removed_mail,
    OneOffKind.SERIES_FOLLOW: _series_follow_mail,
    OneOffKind.LIFT_SUPPRESSION: _lift_suppression_mail,
}


def one_off_mail(kind: str, subject_id: int, address: str | None, key: str, **details: str) -> OneOffMail | None:
    """The one-off mail of ``kind`` about ``subject_id``; None when there is nothing to send
    any more (the subscription was confirmed meanwhile, the user is gone). ``key`` makes the
    delivery key (the sending workflow's id: a retry keeps it, so a repeat is recognisable).
    ``details``: what no table holds any more (a removed device's name)."""
    return _ONE_OFF_MAILS[kind](subject_id, address, key, **details)
