"""What a notification says, in mail (text and HTML) and in short form for chat and push, and the
``Message`` that carries it to a transport."""
from dataclasses import dataclass, field
from functools import cached_property
from datetime import datetime
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from flask import render_template
from markupsafe import escape

from soonish.domain import chat_markup
from soonish.models import Event, EventStatus, Notification, NotificationKind


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
    # Push: the organizer's words alone (the worker shows the time in the reader's zone), and
    # the signed single-use token the notification's answer buttons send.
    summary: str = ""
    answer_token: str | None = None


NOTIFY_TYPE = {
    NotificationKind.CANCEL: "warning",
    NotificationKind.UPDATE: "info",
    NotificationKind.ANNOUNCEMENT: "info",
    NotificationKind.REMINDER: "info",
    NotificationKind.WELCOME: "success",
    NotificationKind.STILL_COMING: "info",
    NotificationKind.COMMUNITY_EVENT: "info",
}


def when_text(event: Event, moment: datetime | None = None) -> str:
    """"Tue 3 Mar 2026, 18:30 CET (Europe/Paris)": the event's time in its own zone."""
    return zoned_text(moment or event.starts_at, event.timezone)


def zoned_text(moment: datetime, zone_name: str) -> str:
    local = moment.astimezone(ZoneInfo(zone_name))
    return f"{local:%a %-d %b %Y, %H:%M} {local.tzname()} ({zone_name})"


def duration_text(seconds: int) -> str:
    """3600 → "1 hour", 90000 → "1 day 1 hour", 300 → "5 minutes"."""
    parts = []
    for name, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        count, seconds = divmod(seconds, size)
        if count:
            parts.append(f"{count} {name}{'s' if count > 1 else ''}")
    return " ".join(parts) or "now"


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

    def fill(self, body: str, escape_for_html: bool) -> str:
        """``body`` rendered with LINK_SLOTS, with this recipient's links in their place."""
        for slot, url in ((LINK_SLOTS.manage_url, self.manage_url), (LINK_SLOTS.unsubscribe_url, self.unsubscribe_url),
                          (LINK_SLOTS.forget_url, self.forget_url or ""), (LINK_SLOTS.rsvp_url, self.rsvp_url or ""),
                          (LINK_SLOTS.follow_url, self.follow_url or "")):
            body = body.replace(slot, str(escape(url)) if escape_for_html else url)
        return body


# Stand-ins for a recipient's links: a notification's mail is rendered once per batch with
# these, then filled in per recipient (rendering two templates per mail cost ~1 ms each).
LINK_SLOTS = RecipientLinks("https://soonish.invalid/manage-link-slot", "https://soonish.invalid/unsubscribe-link-slot",
                            "https://soonish.invalid/forget-link-slot", "https://soonish.invalid/rsvp-link-slot",
                            "https://soonish.invalid/follow-link-slot")


def slots_like(links: RecipientLinks) -> RecipientLinks:
    """The stand-ins for the links ``links`` has (the forget, RSVP and follow links are optional,
    and a mail shows their lines only when it has them)."""
    return RecipientLinks(LINK_SLOTS.manage_url, LINK_SLOTS.unsubscribe_url,
                          LINK_SLOTS.forget_url if links.forget_url else None,
                          LINK_SLOTS.rsvp_url if links.rsvp_url else None,
                          LINK_SLOTS.follow_url if links.follow_url else None)


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

    @classmethod
    def of(cls, notification: Notification, event: Event, event_url: str,
           chats: tuple[str, ...] = ()) -> "NotificationText":
        """``chats``: the chat platforms whose bot runs here (display names). A welcome read
        outside chat offers them; one read in chat doesn't send its reader to chat."""
        body = notification.body
        if notification.kind == NotificationKind.WELCOME and chats:
            body += f"\n\nRather get them in {' or '.join(chats)}? Type /soonish subscribe {event.slug} there."
        community = notification.kind == NotificationKind.COMMUNITY_EVENT
        return cls(
            title=notification.title,
            body=body,
            chat_body=notification.body,
            starts_at=event.starts_at,
            when=when_text(event),
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
        )

    def short(self) -> str:
        lines = [self.body] if self.body else []
        lines.append(f"When: {self.when}")
        if self.where:
            lines.append(f"Where: {self.where}")
        if self.join_url:
            lines.append(f"Join online: {self.join_url}")
        lines.append(self.event_url)
        return "\n".join(lines)

    def chat_text(self, platform: str) -> str:
        """The short form in the platform's markup, the time in each reader's own zone."""
        lines = [chat_markup.bold(platform, self.title)]
        if self.chat_body:
            lines.append(chat_markup.escape(platform, self.chat_body))
        lines.append(f"When: {chat_markup.local_time(platform, self.starts_at, self.when)}")
        if self.where:
            lines.append(f"Where: {chat_markup.escape(platform, self.where)} ({chat_markup.link(platform, self.map_url, 'map')})")
        if self.join_url:
            lines.append(chat_markup.link(platform, self.join_url, "Join online"))
        lines.append(chat_markup.link(platform, self.event_url, "Open the event"))
        return "\n".join(lines)

    def _render_mail(self, links: RecipientLinks | None) -> tuple[str, str]:
        context = {"n": self, "links": links}
        return render_template("mail/notification.txt", **context), render_template("mail/notification.html", **context)

    @cached_property
    def _mails_with_link_slots(self) -> dict[tuple[bool, bool, bool], tuple[str, str]]:
        """The mail rendered with link stand-ins, once per mix of optional links (forget, RSVP, follow)."""
        return {}

    def _mail_with_slots(self, links: RecipientLinks) -> tuple[str, str]:
        variant = (links.forget_url is not None, links.rsvp_url is not None, links.follow_url is not None)
        if variant not in self._mails_with_link_slots:
            self._mails_with_link_slots[variant] = self._render_mail(slots_like(links))
        return self._mails_with_link_slots[variant]

    def message(self, delivery_key: str, links: RecipientLinks | None, as_mail: bool,
                chat_platform: str | None = None) -> Message:
        text = html = None
        if as_mail and links is not None:
            text_template, html_template = self._mail_with_slots(links)
            text, html = links.fill(text_template, False), links.fill(html_template, True)
        elif as_mail:
            text, html = self._render_mail(None)
        short = self.chat_text(chat_platform) if chat_platform else self.short()
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
            summary=self.chat_body,
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
        lines.append(f"New time: {when_text(event)} (was {when_text(event, before['starts_at'])}).")
    if before["location"] != event.location:
        lines.append(f"New place: {event.location or 'to be announced'} (was {before['location'] or 'not set'}).")
    if before.get("online_url", event.online_url) != event.online_url:
        lines.append(f"New online link: {event.online_url}." if event.online_url else "It is no longer online.")
    if before["title"] != event.title:
        lines.append(f"New name: {event.title} (was {before['title']}).")
    return "\n".join(lines) or None
