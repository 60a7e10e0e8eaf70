"""How Slack and Discord write times, bold text and links, shared by broadcasts and bot replies.

Times go out as each platform's date token, so every reader sees them in their own zone; the
fallback (written in the event's zone) shows wherever a client can't render the token.
"""
from datetime import datetime
from enum import StrEnum


class ChatPlatform(StrEnum):
    """The chat platforms our bots live on. A StrEnum: equal to the value stored in
    ``ChatIdentity.platform``, so code compares members, never display names."""

    SLACK = "slack"
    DISCORD = "discord"

    @property
    def display_name(self) -> str:
        return {ChatPlatform.SLACK: "Slack", ChatPlatform.DISCORD: "Discord"}[self]


SLACK = ChatPlatform.SLACK
DISCORD = ChatPlatform.DISCORD
PLATFORMS = tuple(ChatPlatform)
PLATFORM_NAMES = {platform: platform.display_name for platform in ChatPlatform}


def slack_escape(text: str) -> str:
    # Slack reads <…> as links and mentions (<!channel> pings everyone): user text must not.
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def escape(platform: str, text: str) -> str:
    return slack_escape(text) if platform == SLACK else text


def bold(platform: str, text: str) -> str:
    return f"*{escape(platform, text)}*" if platform == SLACK else f"**{text}**"


def link(platform: str, url: str, label: str) -> str:
    return f"<{url}|{slack_escape(label)}>" if platform == SLACK else f"[{label}]({url})"


def local_time(platform: str, moment: datetime, fallback: str) -> str:
    """``moment`` as the reader's own local time, with how far away it is on Discord."""
    unix = int(moment.timestamp())
    if platform == SLACK:
        return f"<!date^{unix}^{{date_long_pretty}} {{time}}|{slack_escape(fallback)}>"
    return f"<t:{unix}:F> (<t:{unix}:R>)"
