"""The buttons under chat posts about an event (Slack Block Kit actions, Discord message
components): the RSVP answers, and "Follow this event" under a community's new-event post; and
reading a pressed button back. Pure data: the worker and the bots share it. The labels are in
the language of the message they are under."""
from soonish.i18n import DEFAULT_LOCALE, _l, render_in

SLACK_ACTION_PREFIX = "rsvp_"  # action_id rsvp_going / rsvp_maybe / rsvp_no, value: the event id
DISCORD_ID_PREFIX = "soonish:rsvp:"  # custom_id soonish:rsvp:<event id>:<answer>
BUTTONS = (("going", _l("Going"), "primary"), ("maybe", _l("Maybe"), None), ("no", _l("Can't go"), None))
# Under the still-coming check: "confirm" keeps the person going (and says so); "no" frees the place.
STILL_COMING_BUTTONS = (("confirm", _l("Yes, still coming"), "primary"), ("no", _l("Can't make it"), None))
SLACK_FOLLOW_ACTION = "follow_event"  # value: the event id
DISCORD_FOLLOW_PREFIX = "soonish:follow:"  # custom_id soonish:follow:<event id>
DISCORD_STYLES = {"primary": 1, None: 2}  # blurple, grey
DISCORD_BUTTON, DISCORD_ACTION_ROW = 2, 1


def _buttons(still_coming: bool, locale: str) -> list[tuple[str, str, str | None]]:
    with render_in(locale):
        return [(choice, str(label), style) for choice, label, style in
                (STILL_COMING_BUTTONS if still_coming else BUTTONS)]


def slack_blocks(text: str, event_id: int, still_coming: bool = False, locale: str = DEFAULT_LOCALE) -> list[dict]:
    """The post's text as a section, then the answer buttons."""
    buttons = []
    for choice, label, style in _buttons(still_coming, locale):
        button = {"type": "button", "action_id": SLACK_ACTION_PREFIX + choice, "value": str(event_id),
                  "text": {"type": "plain_text", "text": label}}
        if style:
            button["style"] = style
        buttons.append(button)
    return [{"type": "section", "text": {"type": "mrkdwn", "text": text[:3000]}},
            {"type": "actions", "block_id": f"soonish_rsvp_{event_id}", "elements": buttons}]


def slack_follow_blocks(text: str, event_id: int, label: str) -> list[dict]:
    """The post's text as a section, then the one "Follow this event" button (``label``: in the
    post's language)."""
    button = {"type": "button", "action_id": SLACK_FOLLOW_ACTION, "value": str(event_id), "style": "primary",
              "text": {"type": "plain_text", "text": label}}
    return [{"type": "section", "text": {"type": "mrkdwn", "text": text[:3000]}},
            {"type": "actions", "block_id": f"soonish_follow_{event_id}", "elements": [button]}]


def discord_follow_components(event_id: int, label: str) -> list[dict]:
    return [{"type": DISCORD_ACTION_ROW, "components": [
        {"type": DISCORD_BUTTON, "style": DISCORD_STYLES["primary"], "label": label,
         "custom_id": f"{DISCORD_FOLLOW_PREFIX}{event_id}"}]}]


def parse_slack_follow(value: str) -> int | None:
    """The event id a pressed "Follow this event" carries, or None for anything else."""
    return int(value) if value.isdigit() else None


def parse_discord_follow(custom_id: str) -> int | None:
    event_id = custom_id.removeprefix(DISCORD_FOLLOW_PREFIX)
    return int(event_id) if custom_id.startswith(DISCORD_FOLLOW_PREFIX) and event_id.isdigit() else None


def discord_components(event_id: int, still_coming: bool = False, locale: str = DEFAULT_LOCALE) -> list[dict]:
    return [{"type": DISCORD_ACTION_ROW, "components": [
        {"type": DISCORD_BUTTON, "style": DISCORD_STYLES[style], "label": label,
         "custom_id": f"{DISCORD_ID_PREFIX}{event_id}:{choice}"}
        for choice, label, style in _buttons(still_coming, locale)
    ]}]


def parse_slack_action(action_id: str, value: str) -> tuple[int, str] | None:
    """(event id, answer) of a pressed Slack button, or None for anything else."""
    choice = action_id.removeprefix(SLACK_ACTION_PREFIX)
    if not action_id.startswith(SLACK_ACTION_PREFIX) or not value.isdigit():
        return None
    return int(value), choice


def parse_discord_id(custom_id: str) -> tuple[int, str] | None:
    if not custom_id.startswith(DISCORD_ID_PREFIX):
        return None
    event_id, _, choice = custom_id.removeprefix(DISCORD_ID_PREFIX).partition(":")
    return (int(event_id), choice) if event_id.isdigit() else None
