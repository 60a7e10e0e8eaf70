"""A community's feeds and embeds: its calendar (.ics), its Atom feed, and the oEmbed answer
that lets a CMS embed its follow button from a pasted link of its page."""
from collections.abc import Callable
from urllib.parse import urlsplit

from feedgen.feed import FeedGenerator
from flask import current_app
from markupsafe import escape

from soonish.domain.messages import when_text
from soonish.models import Community, Event
from soonish.services.communities import CommunityPage, community_page
from soonish.services.errors import NotFound, ValidationFailed
from soonish.i18n import _l

EMBED_WIDTH = 400
EMBED_HEIGHT = 320
EMBED_EVENTS = 3


def atom_feed(page: CommunityPage, page_url: str, feed_url: str, event_url: Callable[[Event], str]) -> bytes:
    """The community's upcoming public events as an Atom feed, newest first."""
    community = page.community
    feed = FeedGenerator()
    feed.id(page_url)
    feed.title(community.name)
    feed.subtitle(community.description or f"Upcoming events of {community.name} on Soonish")
    feed.link(href=page_url, rel="alternate")
    feed.link(href=feed_url, rel="self")
    feed.author({"name": community.name})
    feed.updated(max((event.updated_at for event in page.upcoming), default=community.created_at))
    for event in sorted(page.upcoming, key=lambda e: e.created_at):
        entry = feed.add_entry()
        entry.id(event_url(event))
        entry.title(event.title)
        entry.link(href=event_url(event))
        entry.published(event.created_at)
        entry.updated(event.updated_at)
        where = f" · {event.location}" if event.location else ""
        entry.summary(f"{when_text(event)}{where}")
        if event.description:
            entry.content(event.description, type="text")
    return feed.atom_str(pretty=True)


def community_of_page_url(url: str) -> Community:
    """The community whose page ``url`` is (an oEmbed request names it by its link)."""
    if not url:
        raise ValidationFailed.field("url", _l("Give the link of a community's page, like https://…/c/night-owls."))
    parts = urlsplit(url)
    ours = urlsplit(current_app.config["PUBLIC_URL"])
    path = [part for part in parts.path.split("/") if part]
    if parts.netloc.lower() != ours.netloc.lower() or len(path) != 2 or path[0] != "c":
        raise NotFound(_l("That link is not a community page of this Soonish."))
    return community_page(path[1]).community


def oembed(community: Community, embed_url: str, max_width: int | None, max_height: int | None) -> dict:
    """The oEmbed 1.0 "rich" answer: an iframe of the community's follow button and next events."""
    width = min(EMBED_WIDTH, max_width) if max_width else EMBED_WIDTH
    height = min(EMBED_HEIGHT, max_height) if max_height else EMBED_HEIGHT
    return {
        "version": "1.0", "type": "rich", "provider_name": "Soonish",
        "provider_url": current_app.config["PUBLIC_URL"], "title": f"Follow {community.name} on Soonish",
        "width": width, "height": height, "html": iframe_html(community, embed_url, width, height),
    }


def iframe_html(community: Community, embed_url: str, width: int = EMBED_WIDTH, height: int = EMBED_HEIGHT) -> str:
    return (f'<iframe src="{escape(embed_url)}" title="Follow {escape(community.name)} on Soonish" '
            f'width="{width}" height="{height}" loading="lazy"></iframe>')
