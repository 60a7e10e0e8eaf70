"""The RSVP buttons under chat posts about an event (Slack Block Kit actions, Discord message
components), and reading a pressed button back. Pure data: the worker and the bots share it.
The labels are in the language of the message they are under."""
from soonish.i18n import DEFAULT_LOCALE, _l, render_in

SLACK_ACTION_PREFIX = "rsvp_"  # action_id rsvp_going / rsvp_maybe / rsvp_no, value: the event id
DISCORD_ID_PREFIX = "soonish:rsvp:"  # custom_id soonish:rsvp:<event id>:<answer>
BUTTONS = (("going", _l("Going"), "primary"), ("maybe", _l("Maybe"), None), ("no", _l("Can't go"), None))
# Under the still-coming check: "confirm" keeps the person going (and says so); "no" frees the place.
STILL_COMING_BUTTONS = (("confirm", _l("Yes, still coming"), "primary"), ("no", _l("Can't make it"), None))
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
