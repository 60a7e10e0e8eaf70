"""What a notification says, in mail (text and HTML) and in short form for chat and push, and the
``Message`` that carries it to a transport: in the reader's language (``NotificationText`` is
rendered once per language, ``reader_locale`` says whose), around the organizer's own words,
which go out as written."""
from dataclasses import dataclass, field
from functools import cached_property
from datetime import datetime, timedelta
from urllib.parse import urlencode

from flask import render_template
from markupsafe import escape

from soonish.domain import chat_markup
from soonish.field_limits import TITLE_MAX
from soonish.i18n import (
    DEFAULT_LOCALE, _, current_locale, format_datetime, format_list, format_timedelta, render_in, supported,
)
from soonish.models import ChatIdentity, Event, EventStatus, Notification, NotificationKind, Subscription

@dataclass(frozen=True)
class Attachment:
    """A file a mail carries (the confirm mail's .ics): its MIME type with its parameters, e.g.
    ``text/calendar; method=PUBLISH``."""

    filename: str
    content_type: str
    data: bytes


@dataclass(frozen=True)
class Message:
    delivery_key: str
    title: str
    text: str  # full plain text (mail body)
    short: str  # a few lines for chat and push
    html: str | None = None
    notify_type: str = "info"  # Apprise's info / warning / failure / success
    unsubscribe_url: str | None = None  # one-click (RFC 8058) for mail
    extra: dict = field(default_factory=dict)  # machine-readable fields for webhooks
    rsvp_event_id: int | None = None  # chat posts get Going / Maybe / Can't go buttons for this event
    still_coming: bool = False  # ... or the still-coming check's Yes / Can't make it
    # A community's new-event post in chat: a "Follow this event" button (``follow_label``) for this event.
    follow_event_id: int | None = None
    follow_label: str = ""
    # Push: the organizer's words alone (the worker shows the time in the reader's zone), and
    # the signed single-use token the notification's answer buttons send.
    summary: str = ""
    answer_token: str | None = None
    attachments: tuple[Attachment, ...] = ()  # mail only
    # The language it is written in: what a transport adds to it (push's buttons) is written in it too.
    locale: str = DEFAULT_LOCALE


NOTIFY_TYPE = {
    NotificationKind.CANCEL: "warning",
    NotificationKind.UPDATE: "info",
    NotificationKind.ANNOUNCEMENT: "info",
    NotificationKind.REMINDER: "info",
    NotificationKind.WELCOME: "success",
    NotificationKind.STILL_COMING: "info",
    NotificationKind.COMMUNITY_EVENT: "info",
}


def when_text(event: Event, moment: datetime | None = None, locale: str | None = None) -> str:
    """"Tue, Mar 3, 2026, 6:30 PM CET (Europe/Paris)": the event's time in its own zone, the way
    ``locale`` (default: the one being written in) writes it."""
    return zoned_text(moment or event.starts_at, event.timezone, locale)


def zoned_text(moment: datetime, zone_name: str, locale: str | None = None) -> str:
    return f"{format_datetime(moment, locale or current_locale(), zone_name)} ({zone_name})"


def in_time_text(seconds: int) -> str:
    """3600 → "in 1 hour" ("in 1 Stunde", "dentro de 1 hora"), in the language being written in."""
    return format_timedelta(timedelta(seconds=seconds), current_locale(), add_direction=True)


def reader_locale(subscription: Subscription, identity: ChatIdentity | None = None) -> str:
    """The language a follower reads: in chat, their platform account's (a channel's: whoever
    made it follow); else the one remembered with the follow (the page it was made on, or
    chosen on its manage page); else their account's setting; else English."""
    return (supported(identity.locale if identity is not None else None) or supported(subscription.locale)
            or supported(subscription.user.locale) or DEFAULT_LOCALE)


def N_(msgid: str) -> str:
    """Marks a text kept in English where it is stored (a notification's body), for extraction:
    ``_`` translates it when it is read (``framed``)."""
    return msgid


# What a cancellation says when the organizer cancels; the other causes name their own.
CANCELLED_BODY = N_("The organizer has cancelled this event.")
STILL_COMING_BODY = N_("Tap “Yes” to keep your place, or “Can't make it” to free it for someone else.")
# The organizer's reason, stored after the cause in English and framed in the reader's language.
_REASON_LINE = "\nTheir reason: "


def cancel_body(cause: str, reason: str = "") -> str:
    """A cancellation's stored body: its cause (a N_-marked text) and the organizer's reason."""
    return cause + (f"{_REASON_LINE}{reason}" if reason else "")


def _cancel_body_read(stored: str) -> str:
    cause, has_reason, reason = stored.partition(_REASON_LINE)
    told = _(cause)  # a cause built with the organizer's words (a community's name) stays as stored
    return told + ("\n" + _("Their reason: %(reason)s", reason=reason) if has_reason else "")


def _short_title(text: str) -> str:
    return text if len(text) <= TITLE_MAX else text[: TITLE_MAX - 1] + "…"


def reminder_title(event_title: str, offset_seconds: int) -> str:
    """A reminder's title (a negative offset: the still-coming check ``-offset`` ahead; 0: the
    start), in the language being written in."""
    if offset_seconds == 0:
        text = _("Starting now: %(title)s", title=event_title)
    elif offset_seconds < 0:
        text = _("Still coming? %(title)s starts %(in_time)s", title=event_title, in_time=in_time_text(-offset_seconds))
    else:
        text = _("Reminder: %(title)s starts %(in_time)s", title=event_title, in_time=in_time_text(offset_seconds))
    return _short_title(text)


def updated_title(event_title: str) -> str:
    return _short_title(_("Updated: %(title)s", title=event_title))


def cancelled_title(event_title: str) -> str:
    return _short_title(_("Cancelled: %(title)s", title=event_title))


def community_event_title(community_name: str, event_title: str) -> str:
    return _short_title(_("New from %(community)s: %(title)s", community=community_name, title=event_title))


def community_event_body(community_name: str) -> str:
    return _("%(community)s has a new event.", community=community_name)


def welcome_title(event_title: str) -> str:
    return _short_title(_("You're following %(title)s", title=event_title))


def welcome_body(reminder_offsets: list[int]) -> str:
    if not reminder_offsets:
        return _("You'll get the organizer's updates here. You asked for no reminders.")
    locale = current_locale()
    leads = format_list((format_timedelta(timedelta(seconds=o), locale) for o in reminder_offsets), locale)
    return _("You'll get the organizer's updates here, and reminders before it starts (%(leads)s).", leads=leads)


def framed(notification: Notification, event: Event, welcomed: Subscription | None = None) -> tuple[str, str]:
    """The notification's title and body in the language being written in. What Soonish says
    (reminders, updates, cancellations, welcomes) is said anew from what it is about; the
    organizer's announcement goes as written. ``welcomed``: the subscription a welcome greets."""
    kind = notification.kind
    if kind in (NotificationKind.REMINDER, NotificationKind.STILL_COMING) and notification.reminder_offset is not None:
        body = _(STILL_COMING_BODY) if kind == NotificationKind.STILL_COMING else ""
        return reminder_title(event.title, notification.reminder_offset), body
    if kind == NotificationKind.UPDATE:
        body = describe_change(from_snapshot(notification.change_from), event) if notification.change_from else None
        return updated_title(event.title), body or notification.body
    if kind == NotificationKind.CANCEL:
        return cancelled_title(event.title), _cancel_body_read(notification.body)
    if kind == NotificationKind.WELCOME and welcomed is not None:
        return welcome_title(event.title), welcome_body(welcomed.reminder_offsets)
    if kind == NotificationKind.COMMUNITY_EVENT and event.community is not None:
        name = event.community.name
        return community_event_title(name, event.title), community_event_body(name)
    return notification.title, notification.body


@dataclass(frozen=True)
class RecipientLinks:
    manage_url: str
    unsubscribe_url: str
    # Followers by email alone (no account) also get "forget my address".
    forget_url: str | None = None
    # The one-tap going / maybe / can't go page for this address (the answer goes after "?answer=").
    rsvp_url: str | None = None
    # A community's new-event message to someone told, not following: the one-tap "follow this event".
    follow_url: str | None = None
    # An occurrence's message to someone following its whole series: "leave the whole series".
    leave_series_url: str | None = None

    def fill(self, body: str, escape_for_html: bool) -> str:
        """``body`` rendered with LINK_SLOTS, with this recipient's links in their place."""
        for slot, url in ((LINK_SLOTS.manage_url, self.manage_url), (LINK_SLOTS.unsubscribe_url, self.unsubscribe_url),
                          (LINK_SLOTS.forget_url, self.forget_url or ""), (LINK_SLOTS.rsvp_url, self.rsvp_url or ""),
                          (LINK_SLOTS.follow_url, self.follow_url or ""),
                          (LINK_SLOTS.leave_series_url, self.leave_series_url or "")):
            body = body.replace(slot, str(escape(url)) if escape_for_html else url)
        return body


# Stand-ins for a recipient's links: a notification's mail is rendered once per batch with
# these, then filled in per recipient (rendering two templates per mail cost ~1 ms each).
LINK_SLOTS = RecipientLinks("https://soonish.invalid/manage-link-slot", "https://soonish.invalid/unsubscribe-link-slot",
                            "https://soonish.invalid/forget-link-slot", "https://soonish.invalid/rsvp-link-slot",
                            "https://soonish.invalid/follow-link-slot", "https://soonish.invalid/leave-series-link-slot")


def slots_like(links: RecipientLinks) -> RecipientLinks:
    """The stand-ins for the links ``links`` has (the forget, RSVP, follow and leave-series
    links are optional, and a mail shows their lines only when it has them)."""
    return RecipientLinks(LINK_SLOTS.manage_url, LINK_SLOTS.unsubscribe_url,
                          LINK_SLOTS.forget_url if links.forget_url else None,
                          LINK_SLOTS.rsvp_url if links.rsvp_url else None,
                          LINK_SLOTS.follow_url if links.follow_url else None,
                          LINK_SLOTS.leave_series_url if links.leave_series_url else None)


def takes_rsvps(event: Event, kind: NotificationKind | None = None) -> bool:
    """Whether a message about ``event`` carries going / maybe / can't go links and buttons."""
    return event.rsvp_enabled and event.status == EventStatus.SCHEDULED and kind != NotificationKind.CANCEL


def map_url(location: str) -> str:
    """An OpenStreetMap search for a free-text address ("" when there is none)."""
    return f"https://www.openstreetmap.org/search?{urlencode({'query': location})}" if location else ""


@dataclass(frozen=True)
class NotificationText:
    """The parts of a notification shared by all its recipients."""

    title: str
    body: str  # as read in mail and every channel outside chat
    chat_body: str  # as read in Slack or Discord
    starts_at: datetime
    when: str
    where: str
    event_url: str
    notify_type: str
    extra: dict
    rsvp_event_id: int | None = None  # set when the message offers RSVP answers
    # The still-coming check: its answers are "yes" and "can't make it" instead.
    still_coming: bool = False
    join_url: str = ""  # the event's online link, if any
    map_url: str = ""
    # A community's new-event message: the community's name (its mails carry the community
    # follow's manage and unsubscribe links, and "follow this event" for those not following).
    community: str = ""
    follow_label: str = ""  # the chat button that follows the event a community's new-event post tells of
    locale: str = DEFAULT_LOCALE  # the language it is written in

    @classmethod
    def of(cls, notification: Notification, event: Event, event_url: str,
           chats: tuple[str, ...] = (), locale: str = DEFAULT_LOCALE,
           welcomed: Subscription | None = None) -> "NotificationText":
        """The notification as read in ``locale``. ``chats``: the chat platforms whose bot runs
        here (display names). A welcome read outside chat offers them; one read in chat doesn't
        send its reader to chat."""
        with render_in(locale):
            return cls._of(notification, event, event_url, chats, locale, welcomed)

    @classmethod
    def _of(cls, notification: Notification, event: Event, event_url: str, chats: tuple[str, ...], locale: str,
            welcomed: Subscription | None) -> "NotificationText":
        title, chat_body = framed(notification, event, welcomed)
        body = chat_body
        if notification.kind == NotificationKind.WELCOME and chats:
            body += "\n\n" + _("Rather get them in %(chats)s? Type /soonish subscribe %(slug)s there.",
                                chats=format_list(chats, locale, style="or"), slug=event.slug)
        community = notification.kind == NotificationKind.COMMUNITY_EVENT
        return cls(
            title=title,
            body=body,
            chat_body=chat_body,
            starts_at=event.starts_at,
            when=when_text(event, locale=locale),
            where=event.location,
            event_url=event_url,
            notify_type=NOTIFY_TYPE[notification.kind],
            extra={
                "event_id": event.id,
                "notification_id": notification.id,
                "kind": notification.kind.value,
                "starts_at": event.starts_at.isoformat(),
                "url": event_url,
                "location": event.location,
                "online_url": event.online_url or None,
            },
            # Answers close at the start: the "starting now" message (offset 0) asks nothing.
            rsvp_event_id=event.id if takes_rsvps(event, notification.kind) and notification.reminder_offset != 0
            and not community else None,
            still_coming=notification.kind == NotificationKind.STILL_COMING,
            join_url=event.online_url,
            map_url=map_url(event.location),
            community=event.community.name if community else "",
            follow_label=_("Follow this event") if community else "",
            locale=locale,
        )

    @cached_property
    def _shorts(self) -> dict[str | None, str]:
        """The short form, once per chat platform (None: outside chat)."""
        return {}

    def short(self, platform: str | None = None) -> str:
        """A few lines for push and Apprise, or with ``platform`` for a chat post: rendered once
        per platform, however many readers get it."""
        if platform not in self._shorts:
            with render_in(self.locale):
                self._shorts[platform] = self._chat_text(platform) if platform else self._plain_short()
        return self._shorts[platform]

    def _plain_short(self) -> str:
        lines = [self.body] if self.body else []
        lines.append(_("When: %(when)s", when=self.when))
        if self.where:
            lines.append(_("Where: %(where)s", where=self.where))
        if self.join_url:
            lines.append(_("Join online: %(url)s", url=self.join_url))
        lines.append(self.event_url)
        return "\n".join(lines)

    def _chat_text(self, platform: str) -> str:
        """The short form in the platform's markup, the time in each reader's own zone."""
        lines = [chat_markup.bold(platform, self.title)]
        if self.chat_body:
            lines.append(chat_markup.escape(platform, self.chat_body))
        lines.append(_("When: %(when)s", when=chat_markup.local_time(platform, self.starts_at, self.when)))
        if self.where:
            lines.append(_("Where: %(where)s (%(map_link)s)", where=chat_markup.escape(platform, self.where),
                           map_link=chat_markup.link(platform, self.map_url, _("map"))))
        if self.join_url:
            lines.append(chat_markup.link(platform, self.join_url, _("Join online")))
        lines.append(chat_markup.link(platform, self.event_url, _("Open the event")))
        return "\n".join(lines)

    def _render_mail(self, links: RecipientLinks | None) -> tuple[str, str]:
        context = {"n": self, "links": links}
        with render_in(self.locale):
            return (render_template("mail/notification.txt", **context),
                    render_template("mail/notification.html", **context))

    @cached_property
    def _mails_with_link_slots(self) -> dict[tuple[bool, bool, bool, bool], tuple[str, str]]:
        """The mail rendered with link stand-ins, once per mix of optional links (forget, RSVP,
        follow, leave-series)."""
        return {}

    def _mail_with_slots(self, links: RecipientLinks) -> tuple[str, str]:
        variant = (links.forget_url is not None, links.rsvp_url is not None, links.follow_url is not None,
                   links.leave_series_url is not None)
        if variant not in self._mails_with_link_slots:
            self._mails_with_link_slots[variant] = self._render_mail(slots_like(links))
        return self._mails_with_link_slots[variant]

    def message(self, delivery_key: str, links: RecipientLinks | None, as_mail: bool,
                chat_platform: str | None = None, offer_follow: bool = False) -> Message:
        """One recipient's message; ``offer_follow``: a chat post of a community's new event to
        readers who don't follow the event (a follower told of it, or a channel) carries the
        "Follow this event" button."""
        text = html = None
        if as_mail and links is not None:
            text_template, html_template = self._mail_with_slots(links)
            text, html = links.fill(text_template, False), links.fill(html_template, True)
        elif as_mail:
            text, html = self._render_mail(None)
        short = self.short(chat_platform)
        return Message(
            delivery_key=delivery_key,
            title=self.title,
            text=text or short,
            short=short,
            html=html,
            notify_type=self.notify_type,
            unsubscribe_url=links.unsubscribe_url if links else None,
            extra=self.extra,
            rsvp_event_id=None if as_mail else self.rsvp_event_id,
            still_coming=self.still_coming,
            follow_event_id=self.extra["event_id"] if offer_follow and self.community and not as_mail else None,
            follow_label=self.follow_label,
            summary=self.chat_body,
            locale=self.locale,
        )


# The fields an update tells followers about (what ``describe_change`` compares).
TOLD_FIELDS = ("title", "starts_at", "ends_at", "location", "online_url")
_TOLD_TIMES = ("starts_at", "ends_at")


def change_snapshot(before: dict) -> dict:
    """The told fields of ``before`` as JSON (times as ISO 8601), kept on an update."""
    return {
        name: (before[name].isoformat() if name in _TOLD_TIMES and before[name] is not None else before[name])
        for name in TOLD_FIELDS
    }


def from_snapshot(snapshot: dict) -> dict:
    """``change_snapshot``'s JSON back as the values ``describe_change`` compares."""
    return {
        name: (datetime.fromisoformat(value) if name in _TOLD_TIMES and value is not None else value)
        for name, value in snapshot.items()
    }


def describe_change(before: dict, event: Event) -> str | None:
    """A human summary of what subscribers should know changed, or None if nothing they'd care
    about did (a description edit, say)."""
    lines = []
    if before["starts_at"] != event.starts_at or before["ends_at"] != event.ends_at:
        lines.append(_("New time: %(when)s (was %(before)s).", when=when_text(event),
                       before=when_text(event, before["starts_at"])))
    if before["location"] != event.location:
        lines.append(_("New place: %(where)s (was %(before)s).", where=event.location or _("to be announced"),
                       before=before["location"] or _("not set")))
    if before.get("online_url", event.online_url) != event.online_url:
        lines.append(_("New online link: %(url)s.", url=event.online_url) if event.online_url
                     else _("It is no longer online."))
    if before["title"] != event.title:
        lines.append(_("New name: %(title)s (was %(before)s).", title=event.title, before=before["title"]))
    return "\n".join(lines) or None
