"""The chat bots' commands, the same on Slack and Discord, over the services the web app uses.

An adapter says who spoke (a ``Speaker``) and what they asked; it gets back a ``Reply`` to render
in its platform's format. Every failure becomes a reply that says what to do instead, never a
stack trace.
"""
import logging
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import TypeVar
from urllib.parse import urlsplit

from flask import Flask, current_app

from soonish.domain import chat_markup
from soonish.i18n import _, _l, best_locale, render_in
from soonish.links import event_path, public_url
from soonish.domain.messages import when_text, zoned_text
from soonish.models import (
    ChatIdentity, ChatIdentityKind, Community, Event, Rsvp, RsvpAnswer, Series, Subscription, SubscriptionStatus, User,
)
from soonish.services import ServiceError, ValidationFailed
from soonish.services import chat, chat_organizer, events, subscriptions
from soonish.services import rsvp as rsvp_service
from soonish.services import community_follows
from soonish.services import series as series_service
from soonish.services.errors import Forbidden, NotFound
from soonish.services.offsets import format_offset, validate_offsets
from soonish.domain.delivery.reminders import START_OFFSET

log = logging.getLogger(__name__)

EVENTS_LISTED = 10
SUGGESTIONS_MAX = 25  # Discord shows at most 25 autocomplete choices
NO_REMINDERS = "off"

HELP = _l("""Here's what I can do:
• `subscribe <event>`: follow an event; updates and reminders come to you here as direct messages
• `subscribe <event> here`: make this channel follow it (for people who manage the channel)
• `subscribe <series>`: follow every occurrence of a recurring series (`unsubscribe <series>` stops them)
• `subscribe <community>` (or `subscribe <community> here`): hear of each new public event of a community (`unsubscribe <community>` stops it)
• `unsubscribe <event>` (or `unsubscribe <event> here`): stop following it
• `remind <event> <offsets…>`: when to remind you, e.g. `remind <event> 1d 2h 15m` (or `off`)
• `rsvp <event> going|maybe|no`: tell the organizer whether you're coming (until it starts)
• `list`: the events you follow, with your reminders and answers
• `events`: upcoming public events
• `connect <code>`: join this chat account with your Soonish account, with the code its Channels page gives you
• `link <email>`: the same by mail: join this chat account with your Soonish account at that address
For organizers (with a linked account):
• `create <title> <when>`: a new event, e.g. `create Team lunch tomorrow 7pm` (you confirm first)
• `announce <event> <text>`: send a message to everyone following your event
• `edit <event> when <new time>`: move your event, e.g. `edit <event> when fri 18:30`
• `cancel <event>`: cancel your event (you confirm first)
• `help`: this list
`<event>` is the event's link or the last part of it (its slug); `<series>` likewise for a series.""")

USAGE = {
    "subscribe": _l("`subscribe <event>` or `subscribe <event> here`"),
    "unsubscribe": _l("`unsubscribe <event>` or `unsubscribe <event> here`"),
    "remind": _l("`remind <event> <offsets…>`, e.g. `remind launch-party-1a2b3c 1d 2h`"),
    "rsvp": _l("`rsvp <event> going|maybe|no`, e.g. `rsvp launch-party-1a2b3c going`"),
    "list": "`list`",
    "events": "`events`",
    "link": _l("`link <email>`, e.g. `link me@example.com`"),
    "connect": _l("`connect <code>`, e.g. `connect ABCD-2345` (get the code on the Channels page of Soonish)"),
    "help": "`help`",
    "create": _l("`create <title> <when>`, e.g. `create Team lunch tomorrow 7pm`"),
    "announce": _l("`announce <event> <text>`"),
    "edit": _l("`edit <event> when <new time>`, e.g. `edit launch-party-1a2b3c when fri 18:30`"),
    "cancel": _l("`cancel <event>`"),
}
CONFIRM, DISMISS = "confirm", "dismiss"


@dataclass(frozen=True)
class Speaker:
    """Who typed a command, and where."""

    platform: str  # "slack" | "discord"
    workspace_id: str  # Slack team id; Discord guild id ("" for Discord persons: their ids are global)
    user_id: str
    display_name: str = ""
    workspace_name: str = ""  # how the workspace is called (Slack's team domain), when the platform says
    channel_id: str | None = None  # the channel the command was typed in, if any
    channel_name: str = ""
    in_direct_message: bool = False  # a DM with the bot has a channel id, but no channel can follow there
    # Asked only for `… here`: may this person make the channel follow events? (The adapter may
    # need an API call to know, so it is not asked otherwise.)
    manages_channel: Callable[[], bool] = field(default=lambda: False, compare=False)
    # Asked only for `… here`, after manages_channel: why the bot could not post in this channel
    # (not a member, missing permission), as guidance for the person; None when it can. The adapter
    # may join the channel to make it possible.
    cannot_post_here: Callable[[], str | None] = field(default=lambda: None, compare=False)
    # The person's time zone from their chat profile (an API call on Slack, so asked only when
    # a time is read); None where the platform doesn't say.
    timezone: Callable[[], str | None] = field(default=lambda: None, compare=False)
    # The person's language on the platform ("fr-FR" on Slack, "pt-BR" on Discord): replies are
    # written in it, and their DMs (and a channel they make follow) after; None where unsaid.
    locale: Callable[[], str | None] = field(default=lambda: None, compare=False)


@dataclass(frozen=True)
class EventItem:
    title: str
    slug: str
    url: str
    starts_at: datetime
    when: str  # in the event's own zone, for clients that can't show the reader's
    reminders: tuple[str, ...] | None = None  # the reader's offsets ("1d", "1h"), in `list`
    rsvp: str | None = None  # the reader's answer ("Going"), in `list`
    can_subscribe: bool = False  # offer a Subscribe button

    def markup(self, platform: str) -> str:
        """Title (linked) and time in the reader's zone, with their reminders when known."""
        text = (f"{chat_markup.bold(platform, chat_markup.link(platform, self.url, self.title))}\n"
                f"{chat_markup.local_time(platform, self.starts_at, self.when)}")
        if self.reminders is not None:
            text += "\n" + (_("Reminders: %(leads)s before", leads=", ".join(self.reminders)) if self.reminders
                             else _("Reminders: none"))
        if self.rsvp is not None:
            text += "\n" + _("Your answer: %(answer)s", answer=self.rsvp)
        return text


@dataclass(frozen=True)
class Action:
    """A button under a reply; pressing it hands ``value`` back to ``Commands.press``."""

    label: str
    value: str  # "confirm:<pending id>" (":<choice>" when there are several) | "dismiss:<pending id>"
    primary: bool = False


@dataclass(frozen=True)
class Reply:
    text: str
    events: tuple[EventItem, ...] = ()
    ok: bool = True
    actions: tuple[Action, ...] = ()
    # Where the whole list can be read, for a renderer that must cut ``events`` to fit the
    # platform's message limits.
    more_url: str | None = None
    # The language it is written in: the adapter renders its buttons and event lines in it too.
    locale: str | None = field(default=None, compare=False)


def more_line(platform: str, hidden: int, url: str | None) -> str:
    """The last line of a list cut to fit a platform's message limits."""
    if url:
        return _("…and %(hidden)s more — see %(link)s", hidden=hidden, link=chat_markup.link(platform, url, _("the full list")))
    return _("…and %(hidden)s more", hidden=hidden)


class CommandError(Exception):
    """A command that can't be carried out; its text is the reply."""


def chat_locale(speaker: Speaker) -> str | None:
    """The catalog for the speaker's platform language ("fr-FR" → "fr", "pt-BR" → "pt_BR"), None
    when the platform doesn't say or we don't ship it."""
    return best_locale(speaker.locale(), fallback="") or None


T = TypeVar("T")


def event_slug(reference: str, page: str = "e") -> str:
    """The slug in "launch-1a2b3c", "https://host/e/launch-1a2b3c" or Slack's "<https://…|label>"
    (``page`` "series": in a series page's link, https://host/series/book-club-1a2b3c)."""
    reference = reference.strip().strip("<>").split("|", 1)[0].strip()
    if "://" not in reference:
        return reference.strip("/")
    parts = [part for part in urlsplit(reference).path.split("/") if part]
    return parts[1] if len(parts) == 2 and parts[0] == page else ""


def _or_else(first: Callable[[], T], reference: str, page: str, by_slug: Callable[[str], T]) -> T:
    """What ``first()`` finds, else what ``by_slug`` finds by ``reference``'s slug (as is, or in a
    link to a ``page`` page); when neither finds it, the first's NotFound, which names the event."""
    try:
        return first()
    except NotFound as not_first:
        slug = event_slug(reference) or event_slug(reference, page=page)
        if not slug:
            raise
        try:
            return by_slug(slug)
        except NotFound:
            raise not_first from None


def _route(selector) -> dict:
    return {name: value for name, value in (
        ("integration_id", selector.integration_id), ("tag", selector.tag),
        ("chat_identity_id", selector.chat_identity_id),
    ) if value is not None}


class Commands:
    """The commands, bound to one app (each runs in its own app context, on any thread)."""

    def __init__(self, app: Flask) -> None:
        self.app = app

    # Entry points -------------------------------------------------------------------------

    def run(self, speaker: Speaker, text: str) -> Reply:
        """One command line as typed after /soonish."""
        return self._answer(self._run, speaker, text)

    def _run(self, speaker: Speaker, text: str) -> Reply:
        words = text.split()
        if not words:
            return self.help()
        name, args = words[0].lower(), words[1:]
        if name == "subscribe" and len(args) in (1, 2) and args[1:] in ([], ["here"]):
            return self.subscribe(speaker, args[0], here=len(args) == 2)
        if name == "unsubscribe" and len(args) in (1, 2) and args[1:] in ([], ["here"]):
            return self.unsubscribe(speaker, args[0], here=len(args) == 2)
        if name == "remind" and len(args) >= 2:
            return self.remind(speaker, args[0], " ".join(args[1:]))
        if name == "create" and len(args) >= 2:
            return self.create(speaker, " ".join(args))
        if name == "announce" and len(args) >= 2:
            return self.announce(speaker, args[0], text.strip().split(None, 2)[2])
        if name == "edit" and len(args) >= 3 and args[1].lower() == "when":
            return self.edit_when(speaker, args[0], " ".join(args[2:]))
        if name == "cancel" and len(args) == 1:
            return self.cancel(speaker, args[0])
        if name == "rsvp" and len(args) == 2:
            return self.rsvp(speaker, args[0], args[1])
        if name == "link" and len(args) == 1:
            return self.link(speaker, args[0])
        if name == "connect" and len(args) in (1, 2):
            return self.connect(speaker, "".join(args))
        if name == "list" and not args:
            return self.list_subscriptions(speaker)
        if name == "events" and not args:
            return self.events(speaker)
        if name == "help" and not args:
            return self.help()
        if name in USAGE:
            return Reply(_("Usage: %(usage)s.", usage=USAGE[name]), ok=False)
        return Reply(_("I don't know the command “%(command)s”.", command=words[0]) + "\n" + str(HELP), ok=False)

    def subscribe(self, speaker: Speaker, reference: str, here: bool = False) -> Reply:
        return self._answer(self._subscribe, speaker, reference, here)

    def unsubscribe(self, speaker: Speaker, reference: str, here: bool = False) -> Reply:
        return self._answer(self._unsubscribe, speaker, reference, here)

    def remind(self, speaker: Speaker, reference: str, offsets: str) -> Reply:
        return self._answer(self._remind, speaker, reference, offsets)

    def list_subscriptions(self, speaker: Speaker) -> Reply:
        return self._answer(self._list_subscriptions, speaker)

    def rsvp(self, speaker: Speaker, reference: str, choice: str) -> Reply:
        return self._answer(self._rsvp, speaker, reference, choice)

    def rsvp_button(self, speaker: Speaker, event_id: int, choice: str) -> Reply:
        """A Going / Maybe / Can't go button under a post about the event."""
        return self._answer(self._rsvp_button, speaker, event_id, choice)

    def follow_button(self, speaker: Speaker, event_id: int) -> Reply:
        """The "Follow this event" button under a community's new-event post: whoever presses it
        follows the event, its messages coming to their DMs (pressed in a channel too)."""
        return self._answer(self._follow_button, speaker, event_id)

    def events(self, speaker: Speaker) -> Reply:
        return self._answer(self._events, speaker)

    def create(self, speaker: Speaker, title_and_when: str, when: str | None = None) -> Reply:
        return self._answer(self._create, speaker, title_and_when, when)

    def announce(self, speaker: Speaker, reference: str, text: str) -> Reply:
        return self._answer(self._announce, speaker, reference, text)

    def edit_when(self, speaker: Speaker, reference: str, when: str) -> Reply:
        return self._answer(self._edit_when, speaker, reference, when)

    def cancel(self, speaker: Speaker, reference: str) -> Reply:
        return self._answer(self._cancel, speaker, reference)

    def press(self, speaker: Speaker, value: str) -> Reply:
        """A Confirm or Dismiss button under a create or cancel preview."""
        return self._answer(self._press, speaker, value)

    def link(self, speaker: Speaker, email: str) -> Reply:
        return self._answer(self._link, speaker, email)

    def connect(self, speaker: Speaker, code: str) -> Reply:
        return self._answer(self._connect, speaker, code)

    def help(self) -> Reply:
        return Reply(str(HELP))

    def suggest_events(self, speaker: Speaker, typed: str) -> list[tuple[str, str]]:
        """(title, slug) of events the speaker follows or could follow whose title or slug
        contains ``typed``, for autocomplete."""
        with self.app.app_context():
            user = self._person(speaker).user
            candidates = [s.event for s in subscriptions.list_mine(user)] + events.list_upcoming_public_events()
            typed = typed.strip().lower()
            seen, found = set(), []
            for event in candidates:
                if event.slug not in seen and (typed in event.title.lower() or typed in event.slug):
                    seen.add(event.slug)
                    found.append((event.title, event.slug))
            return found[:SUGGESTIONS_MAX]

    # The commands -------------------------------------------------------------------------

    def _subscribe(self, speaker: Speaker, reference: str, here: bool) -> Reply:
        follower = self._follower(speaker, here)
        event = self._followable(follower.user, reference)
        if isinstance(event, Community):
            community_follows.follow(follower.user, event, selectors=[chat.route_to(follower)])
            return Reply(_("This channel now follows %(community)s: each new public event of it will be posted here, "
                           "with a button to follow it. `unsubscribe %(slug)s here` stops them.",
                           community=event.name, slug=event.slug) if here else
                         _("You follow %(community)s: each new public event of it will be posted to you here as a "
                           "direct message, with a button to follow it. `unsubscribe %(slug)s` stops them.",
                           community=event.name, slug=event.slug))
        if isinstance(event, Series):
            series_service.follow_series(follower.user, slug=event.slug, selectors=[chat.route_to(follower)])
            told = (_("This channel now follows every occurrence of %(title)s (%(schedule)s): updates and reminders "
                      "of each will come here. `unsubscribe %(slug)s` stops them.", title=event.title,
                      schedule=series_service.describe(event), slug=event.slug) if here else
                    _("You're following every occurrence of %(title)s (%(schedule)s): updates and reminders of each "
                      "will come to you here as direct messages. `unsubscribe %(slug)s` stops them.",
                      title=event.title, schedule=series_service.describe(event), slug=event.slug))
            return Reply(told)
        return self._follow_event(follower, event, here)

    def _follow_button(self, speaker: Speaker, event_id: int) -> Reply:
        person = self._person(speaker)
        try:
            # As under the RSVP buttons: the post names the event by id, with its link.
            event = events.get_visible_event(person.user, event_id=event_id, has_link=True)
        except NotFound as exc:
            raise CommandError(_("This event is no longer available.")) from exc
        reply = self._follow_event(person, event, here=False)
        if speaker.channel_id and not speaker.in_direct_message:  # its messages go to their DMs, not here
            return replace(reply, text=_("You're following %(title)s. Its updates and your reminders will come to "
                                         "you as direct messages from me.", title=event.title))
        return reply

    def _follow_event(self, follower: ChatIdentity, event: Event, here: bool) -> Reply:
        """``follower`` (a person, or with ``here`` a channel) follows ``event`` in chat."""
        current = self._subscription(follower.user, event)
        # Add this place to where an active subscription already delivers.
        routes = [_route(s) for s in current.selectors] if current and current.status == SubscriptionStatus.ACTIVE else []
        routes = [r for r in routes if r != chat.route_to(follower)] + [chat.route_to(follower)]
        subscription, _made = subscriptions.subscribe(follower.user, slug=event.slug, selectors=routes)
        if here:
            subscription = subscriptions.post_at_start(subscription)
        item = self._item(event, subscription)
        if here:
            return Reply(_("This channel now follows %(title)s: its updates will be posted here.", title=event.title),
                         (item,))
        return Reply(_("You're following %(title)s. Its updates and your reminders will come to you here as direct "
                       "messages.", title=event.title), (item,))

    def _unsubscribe(self, speaker: Speaker, reference: str, here: bool) -> Reply:
        follower = self._follower(speaker, here)
        event = self._followable(follower.user, reference)
        if isinstance(event, Community):
            follow = community_follows.find_following(follower.user, event)
            if follow is None:
                raise CommandError(_("This channel doesn't follow %(community)s.", community=event.name) if here
                                   else _("You don't follow %(community)s.", community=event.name))
            community_follows.unfollow(follow)
            return Reply(_("This channel no longer follows %(community)s. Nothing more will be sent about its new "
                           "events.", community=event.name) if here else
                         _("You no longer follow %(community)s. Nothing more will be sent about its new events.",
                           community=event.name))
        if isinstance(event, Series):
            series_service.unfollow_series(follower.user, slug=event.slug)
            return Reply(_("This channel no longer follows %(title)s. Nothing more will be sent about its "
                           "occurrences.", title=event.title) if here else
                         _("You no longer follow %(title)s. Nothing more will be sent about its occurrences.",
                           title=event.title))
        subscription = self._subscription(follower.user, event)
        if subscription is None:
            raise CommandError(_("This channel doesn't follow %(title)s.", title=event.title) if here
                               else _("You don't follow %(title)s.", title=event.title))
        subscriptions.unsubscribe(subscription)
        return Reply(_("This channel no longer follows %(title)s. Nothing more will be sent about it.",
                       title=event.title) if here else
                     _("You no longer follow %(title)s. Nothing more will be sent about it.", title=event.title))

    def _remind(self, speaker: Speaker, reference: str, offsets: str) -> Reply:
        # Offsets first: a typo there is the likelier mistake, and needs no event to explain.
        seconds = [] if offsets.strip().lower() == NO_REMINDERS else validate_offsets(offsets)
        user = self._person(speaker).user
        event = self._event(user, reference)
        subscription = self._subscription(user, event)
        if subscription is None:
            raise CommandError(_("You don't follow %(title)s yet: `subscribe %(slug)s` first.",
                                 title=event.title, slug=event.slug))
        subscription = subscriptions.update(user, subscription.id, {"reminder_offsets": seconds})
        if not subscription.reminder_offsets:
            return Reply(_("No reminders for %(title)s.", title=event.title), (self._item(event, subscription),))
        return Reply(_("I'll remind you of %(title)s %(leads)s before it starts.", title=event.title,
                       leads=", ".join(format_offset(o) for o in subscription.reminder_offsets)),
                     (self._item(event, subscription),))

    def _create(self, speaker: Speaker, title_and_when: str, when: str | None) -> Reply:
        preview = chat_organizer.preview_create(self._person(speaker), title_and_when, speaker.timezone(), when=when)
        if len(preview.choices) == 1:
            [only] = preview.choices
            return Reply(_("Create “%(title)s” on %(when)s?", title=only.title,
                           when=zoned_text(only.starts_at, preview.timezone)),
                         actions=self._confirm_buttons(preview.pending_id, _("Create it")))
        readings = "\n".join(_("%(number)s. “%(title)s” on %(when)s", number=n, title=c.title,
                               when=zoned_text(c.starts_at, preview.timezone))
                              for n, c in enumerate(preview.choices, 1))
        creates = tuple(Action(_("Create %(number)s", number=n), f"{CONFIRM}:{preview.pending_id}:{n - 1}")
                        for n in range(1, len(preview.choices) + 1))
        return Reply(_("I can read that more than one way. Which did you mean?") + "\n" + readings,
                     actions=(*creates, Action(_("Never mind"), f"{DISMISS}:{preview.pending_id}")))

    def _announce(self, speaker: Speaker, reference: str, text: str) -> Reply:
        identity = self._person(speaker)
        event = self._event(identity.user, reference)
        chat_organizer.announce(identity, event, text)
        return Reply(_("Your announcement is on its way to everyone following %(title)s.", title=event.title))

    def _edit_when(self, speaker: Speaker, reference: str, when: str) -> Reply:
        identity = self._person(speaker)
        event = chat_organizer.move_start(identity, self._event(identity.user, reference), when, speaker.timezone())
        return Reply(_("%(title)s now starts %(when)s. Its followers are being told.", title=event.title,
                       when=when_text(event)), (self._item(event),))

    def _cancel(self, speaker: Speaker, reference: str) -> Reply:
        identity = self._person(speaker)
        event = self._event(identity.user, reference)
        pending_id = chat_organizer.preview_cancel(identity, event)
        return Reply(_("Cancel %(title)s? Everyone following it is told right away; this can't be undone.",
                       title=event.title),
                     (self._item(event),), actions=self._confirm_buttons(pending_id, _("Cancel the event")))

    def _press(self, speaker: Speaker, value: str) -> Reply:
        choice, _colon, pending = value.partition(":")
        pending, _colon, picked = pending.partition(":")
        if choice not in (CONFIRM, DISMISS) or not pending.isdigit() or not (picked or "0").isdigit():
            raise CommandError(_("I don't know that button."))
        identity = self._person(speaker)
        if choice == DISMISS:
            chat_organizer.dismiss(identity, int(pending))
            return Reply(_("Alright, nothing done."))
        done, event = chat_organizer.confirm(identity, int(pending), int(picked or "0"))
        if done == "create":
            text = _("Created %(title)s. Share its link; people follow it with `subscribe %(slug)s`.",
                     title=event.title, slug=event.slug)
            if speaker.channel_id and not speaker.in_direct_message:
                text += "\n" + self._channel_follows_created(speaker, event)
            return Reply(text, (self._item(event),))
        return Reply(_("%(title)s is cancelled and its followers are being told.", title=event.title))

    def _channel_follows_created(self, speaker: Speaker, event: Event) -> str:
        """An event created in a channel: the channel follows it, its updates and the
        "starting now" message posted there, as `subscribe <event> here` does (with its
        checks: a channel the organizer doesn't manage, or the bot can't post in, doesn't)."""
        try:
            self._subscribe(speaker, event.slug, here=True)
        except CommandError as exc:
            return _("This channel doesn't follow it: %(why)s", why=str(exc))
        except ServiceError as exc:
            return _("This channel doesn't follow it: %(why)s", why=str(exc.message))
        return _("This channel follows it: its updates, and a “starting now” message at the start, are posted here.")

    @staticmethod
    def _confirm_buttons(pending_id: int, confirm_label: str) -> tuple[Action, ...]:
        return (Action(confirm_label, f"{CONFIRM}:{pending_id}", primary=True), Action(_("Never mind"), f"{DISMISS}:{pending_id}"))

    def _rsvp(self, speaker: Speaker, reference: str, choice: str) -> Reply:
        rsvp_service.parse_choice(choice)  # a typo in the answer needs no event to explain
        user = self._person(speaker).user
        return self._rsvp_reply(user, self._event(user, reference), choice)

    def _rsvp_button(self, speaker: Speaker, event_id: int, choice: str) -> Reply:
        user = self._person(speaker).user
        try:
            # The button is on a post we made about the event, with its link, and the platform
            # signs what a press sends: whoever pressed it has the link, even to an unlisted event.
            event = events.get_visible_event(user, event_id=event_id, has_link=True)
        except NotFound as exc:
            raise CommandError(_("This event is no longer available.")) from exc
        if choice == rsvp_service.CONFIRM:  # "Yes, still coming" under the still-coming check
            rsvp = rsvp_service.still_coming(user, event, choice)
            return Reply(_("Thanks: you're still going to %(title)s, and the organizer knows.", title=event.title),
                         (self._item(event, rsvp=rsvp),))
        return self._rsvp_reply(user, event, choice)

    def _rsvp_reply(self, user: User, event: Event, choice: str) -> Reply:
        rsvp = rsvp_service.answer(user, event, choice)
        text = {
            RsvpAnswer.GOING: _("You're going to %(title)s. See you there! You can change your answer until it "
                                "starts.", title=event.title),
            RsvpAnswer.MAYBE: _("You're a maybe for %(title)s. You can change your answer until it starts.",
                                title=event.title),
            RsvpAnswer.NOT_GOING: _("You can't go to %(title)s; the organizer will know. You can change your answer "
                                    "until it starts.", title=event.title),
            RsvpAnswer.WAITLISTED: _("%(title)s is full: you're on the waitlist, and if a place frees up it's offered "
                                     "to you. You can change your answer until it starts.", title=event.title),
        }[rsvp.answer]
        return Reply(text, (self._item(event, rsvp=rsvp),))

    def _list_subscriptions(self, speaker: Speaker) -> Reply:
        user = self._person(speaker).user
        followed = [s for s in subscriptions.list_mine(user) if s.status == SubscriptionStatus.ACTIVE]
        if not followed:
            return Reply(_("You don't follow any event yet. `events` lists upcoming ones."))
        return Reply(_("The events you follow:"), tuple(
            self._item(s.event, s, rsvp=rsvp_service.find(s.event, user) if s.event.rsvp_enabled else None)
            for s in followed), more_url=public_url(current_app.config["PUBLIC_URL"], "/subscriptions"))

    def _events(self, speaker: Speaker) -> Reply:
        upcoming = events.list_upcoming_public_events(limit=EVENTS_LISTED)
        if not upcoming:
            return Reply(_("No upcoming public events right now."))
        items = tuple(self._item(event, can_subscribe=True) for event in upcoming)
        return Reply(_("Upcoming events (subscribe with `subscribe <event>`):"), items,
                     more_url=public_url(current_app.config["PUBLIC_URL"], "/"))

    def _link(self, speaker: Speaker, email: str) -> Reply:
        address = chat.request_link(self._person(speaker), email)
        return Reply(_("I've sent a link to %(address)s. Open it to join this %(platform)s account with that address: "
                       "the events you follow with either come together.", address=address,
                       platform=chat_markup.PLATFORM_NAMES[speaker.platform]))

    def _connect(self, speaker: Speaker, code: str) -> Reply:
        try:
            account = chat.connect(self._person(speaker), code)
        except ServiceError as exc:
            # Said as it is: the general advice on events and commands doesn't fit a code.
            raise CommandError(exc.message) from exc
        platform = chat_markup.PLATFORM_NAMES[speaker.platform]
        return Reply(_("Connected: this %(platform)s account is now part of your Soonish account (%(email)s). Updates "
                       "you route here come as direct messages; `subscribe <event>` follows an event from here.",
                       platform=platform, email=account.email))

    # Helpers ------------------------------------------------------------------------------

    def _answer(self, command, speaker: Speaker, *args) -> Reply:
        """Run ``command`` and say how it went, in the speaker's language (``chat_locale``)."""
        with self.app.app_context(), render_in(chat_locale(speaker)) as locale:
            return replace(self._outcome(command, speaker, *args), locale=locale)

    def _outcome(self, command, speaker: Speaker, *args) -> Reply:
        """``command``'s reply, or what went wrong said as one."""
        try:
            return command(speaker, *args)
        except CommandError as exc:
            return Reply(str(exc), ok=False)
        except NotFound as exc:
            return Reply(_("%(why)s Use the event's link or its slug; `events` lists upcoming ones.",
                           why=str(exc.message)), ok=False)
        except ValidationFailed as exc:
            return Reply(_("%(why)s (`help` shows every command.)", why=str(exc.message)), ok=False)
        except ServiceError as exc:
            return Reply(str(exc.message), ok=False)
        except Exception:
            log.exception("chat command failed")
            return Reply(_("Something went wrong on our side. Please try again in a minute."), ok=False)

    def _person(self, speaker: Speaker) -> ChatIdentity:
        """The speaker's identity, with their language as the platform says it now (their DMs are
        written in it)."""
        return chat.identity_for(speaker.platform, speaker.workspace_id, speaker.user_id,
                                 display_name=speaker.display_name, workspace_name=speaker.workspace_name,
                                 locale=chat_locale(speaker))

    def _follower(self, speaker: Speaker, here: bool) -> ChatIdentity:
        """Who follows: the speaker, or with ``here`` the channel they're in."""
        if not here:
            return self._person(speaker)
        if not speaker.channel_id or speaker.in_direct_message:
            raise CommandError(_("`here` works in a channel: run it in the channel that should follow the event."))
        if not speaker.manages_channel():
            raise Forbidden(_("Only people who manage this channel can change what it follows."))
        if problem := speaker.cannot_post_here():
            raise CommandError(problem)
        name = f"#{speaker.channel_name}" if speaker.channel_name else ""
        # The channel's posts are written in the language of whoever made it follow, last.
        return chat.identity_for(speaker.platform, speaker.workspace_id, speaker.channel_id,
                                 kind=ChatIdentityKind.CHANNEL, display_name=name, locale=chat_locale(speaker))

    def _event(self, user: User, reference: str) -> Event:
        slug = event_slug(reference)
        if not slug:
            raise NotFound(_("“%(reference)s” isn't an event link.", reference=reference))
        try:
            return events.get_visible_event(user, slug=slug)
        except NotFound as exc:
            raise NotFound(_("I can't find the event “%(slug)s”.", slug=slug)) from exc

    def _event_or_series(self, user: User, reference: str) -> Event | Series:
        """The event ``reference`` names or else the recurring series it names."""
        return _or_else(lambda: self._event(user, reference), reference, "series",
                        lambda slug: series_service.get_visible_series(user, slug=slug))

    def _followable(self, user: User, reference: str) -> Event | Series | Community:
        """The event or series ``reference`` names, else the community (its slug or page link)."""
        return _or_else(lambda: self._event_or_series(user, reference), reference, "c", community_follows.followable)

    def _subscription(self, user: User, event: Event) -> Subscription | None:
        return next((s for s in subscriptions.list_mine(user) if s.event_id == event.id), None)

    def _item(self, event: Event, subscription: Subscription | None = None, can_subscribe: bool = False,
              rsvp: Rsvp | None = None) -> EventItem:
        reminders = None
        if subscription is not None:
            # The "starting now" message (offset 0) a channel gets is not a reminder to list.
            reminders = tuple(format_offset(o) for o in subscription.reminder_offsets if o != START_OFFSET)
        return EventItem(
            title=event.title, slug=event.slug,
            url=public_url(current_app.config["PUBLIC_URL"], event_path(event.slug)),
            starts_at=event.starts_at, when=when_text(event), reminders=reminders, can_subscribe=can_subscribe,
            rsvp=rsvp_service.ANSWER_LABELS[rsvp.answer] if rsvp else None,
        )
