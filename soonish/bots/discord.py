"""Discord adapter: the /soonish command group over bots.core, with event autocomplete and
replies only the asker sees. The commands touch the database, so they run on worker threads:
the event loop keeps answering Discord meanwhile."""
import asyncio
import logging
import signal

import discord
import yarl
from discord import app_commands
from discord.gateway import DiscordWebSocket
from discord.http import Route
from flask import Flask

from soonish.domain.chat_buttons import parse_discord_follow, parse_discord_id
from soonish.domain.chat_markup import DISCORD
from soonish.services import chat_installations
from soonish.bots.core import Commands, Reply, Speaker, more_line
from soonish.i18n import _l, current_locale, format_list, ngettext, render_in

log = logging.getLogger(__name__)

MESSAGE_MAX = 2000
CHOICE_NAME_MAX = 100
SEPARATOR = "\n\n"
# What the bot needs in a channel to post a followed event's updates there.
# Named as Discord's permission settings name them.
POSTING_PERMISSIONS = {"view_channel": _l("View Channel"), "send_messages": _l("Send Messages")}


def use_api(config) -> None:
    """Point discord.py at the configured API and gateway (tests: fakes on loopback)."""
    Route.BASE = config["DISCORD_API_URL"].rstrip("/")
    DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(config["DISCORD_GATEWAY_URL"])


PRESS_ID_PREFIX = "soonish:press:"  # + confirm:<id> / dismiss:<id>


def render(reply: Reply) -> str:
    """The reply's text and as many whole events as fit in one message; the rest is named by a
    last line with where to read it (cutting the text would break a link or a date token). All
    in the reply's language."""
    with render_in(reply.locale):
        return _message(reply)


def _message(reply: Reply) -> str:
    body = reply.text[:MESSAGE_MAX]
    items = [item.markup(DISCORD) for item in reply.events]
    for shown, markup in enumerate(items):
        rest = len(items) - shown - 1
        tail = SEPARATOR + more_line(DISCORD, rest, reply.more_url) if rest else ""
        if len(body) + len(SEPARATOR) + len(markup) + len(tail) > MESSAGE_MAX:
            return body + SEPARATOR + more_line(DISCORD, len(items) - shown, reply.more_url)
        body += SEPARATOR + markup
    return body


def cannot_post_in(interaction: discord.Interaction) -> str | None:
    """The bot's own permissions in the channel (Discord sends them with every interaction):
    without them every post there would fail."""
    missing = [str(label) for name, label in POSTING_PERMISSIONS.items()
               if not getattr(interaction.app_permissions, name)]
    if not missing:
        return None
    return ngettext("I can't post in this channel: I'm missing the %(permissions)s permission. A server manager "
                    "can grant it in the channel's settings → Permissions, then run the command again.",
                    "I can't post in this channel: I'm missing the %(permissions)s permissions. A server manager "
                    "can grant them in the channel's settings → Permissions, then run the command again.",
                    len(missing), permissions=format_list(missing, current_locale()))


def buttons(reply: Reply) -> dict:
    """The reply's buttons as a view (send keyword arguments); pressing one reaches on_interaction."""
    if not reply.actions:
        return {}
    view = discord.ui.View(timeout=None)
    for action in reply.actions:
        view.add_item(discord.ui.Button(
            label=action.label, custom_id=PRESS_ID_PREFIX + action.value,
            style=discord.ButtonStyle.primary if action.primary else discord.ButtonStyle.secondary,
        ))
    return {"view": view}


def speaker(interaction: discord.Interaction) -> Speaker:
    # Discord's ids are global, so its identities carry no workspace: one person (or channel)
    # is the same across servers and DMs.
    in_server = interaction.guild_id is not None
    return Speaker(
        platform=DISCORD, workspace_id="", user_id=str(interaction.user.id),
        display_name=interaction.user.display_name,
        channel_id=str(interaction.channel_id) if in_server else None,
        channel_name=getattr(interaction.channel, "name", "") or "",
        manages_channel=lambda: interaction.permissions.manage_channels,
        cannot_post_here=lambda: cannot_post_in(interaction),
        # The language of the person's Discord client ("fr", "es-ES", "pt-BR"), on every interaction.
        locale=lambda: interaction.locale.value if interaction.locale else None,
    )


def command_group(commands: Commands) -> app_commands.Group:
    group = app_commands.Group(name="soonish", description="Follow events: updates and reminders right here")

    async def answer(interaction: discord.Interaction, command, *args) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        reply = await asyncio.to_thread(command, speaker(interaction), *args)
        try:
            await interaction.followup.send(render(reply), ephemeral=True, **buttons(reply))
        except discord.HTTPException as exc:
            log.error("Discord refused a reply: HTTP %s %s", exc.status, exc.text)

    async def event_choices(interaction: discord.Interaction, current: str) -> list[app_commands.Choice[str]]:
        found = await asyncio.to_thread(commands.suggest_events, speaker(interaction), current)
        return [app_commands.Choice(name=title[:CHOICE_NAME_MAX], value=slug) for title, slug in found]

    @group.command(description="Follow an event: updates and reminders come to your DMs")
    @app_commands.describe(event="The event's link or slug", here="Post its updates in this channel instead (channel managers)")
    @app_commands.autocomplete(event=event_choices)
    async def subscribe(interaction: discord.Interaction, event: str, here: bool = False) -> None:
        await answer(interaction, commands.subscribe, event, here)

    @group.command(description="Stop following an event")
    @app_commands.describe(event="The event's link or slug", here="Stop this channel following it (channel managers)")
    @app_commands.autocomplete(event=event_choices)
    async def unsubscribe(interaction: discord.Interaction, event: str, here: bool = False) -> None:
        await answer(interaction, commands.unsubscribe, event, here)

    @group.command(description="When to remind you before an event, e.g. 1d 2h 15m (or off)")
    @app_commands.describe(event="The event's link or slug", offsets="e.g. 1d 2h 15m, or off")
    @app_commands.autocomplete(event=event_choices)
    async def remind(interaction: discord.Interaction, event: str, offsets: str) -> None:
        await answer(interaction, commands.remind, event, offsets)

    @group.command(name="list", description="The events you follow, with your reminders")
    async def list_subscriptions(interaction: discord.Interaction) -> None:
        await answer(interaction, commands.list_subscriptions)

    @group.command(description="Upcoming public events")
    async def events(interaction: discord.Interaction) -> None:
        await answer(interaction, commands.events)

    @group.command(description="Join this Discord account with your Soonish account at an email address")
    @app_commands.describe(email="Your Soonish account's email address")
    async def link(interaction: discord.Interaction, email: str) -> None:
        await answer(interaction, commands.link, email)

    @group.command(description="Join this Discord account with your Soonish account, with a code from its Channels page")
    @app_commands.describe(code="The code the Channels page shows, e.g. ABCD-2345")
    async def connect(interaction: discord.Interaction, code: str) -> None:
        await answer(interaction, commands.connect, code)

    @group.command(description="Organizers: create an event, e.g. title Team lunch, when tomorrow 7pm")
    @app_commands.describe(title="The event's title", when="e.g. tomorrow 7pm, fri 18:30, in 3 hours")
    async def create(interaction: discord.Interaction, title: str, when: str) -> None:
        await answer(interaction, commands.create, title, when)

    @group.command(description="Organizers: send a message to everyone following your event")
    @app_commands.describe(event="Your event's link or slug", text="The message")
    @app_commands.autocomplete(event=event_choices)
    async def announce(interaction: discord.Interaction, event: str, text: str) -> None:
        await answer(interaction, commands.announce, event, text)

    @group.command(description="Organizers: move your event to a new time")
    @app_commands.describe(event="Your event's link or slug", when="e.g. fri 18:30")
    @app_commands.autocomplete(event=event_choices)
    async def edit(interaction: discord.Interaction, event: str, when: str) -> None:
        await answer(interaction, commands.edit_when, event, when)

    @group.command(description="Organizers: cancel your event (you confirm first)")
    @app_commands.describe(event="Your event's link or slug")
    @app_commands.autocomplete(event=event_choices)
    async def cancel(interaction: discord.Interaction, event: str) -> None:
        await answer(interaction, commands.cancel, event)

    @group.command(description="Say whether you're coming: going, maybe or no")
    @app_commands.rename(choice="answer")
    @app_commands.describe(event="The event's link or slug", choice="going, maybe or no")
    @app_commands.autocomplete(event=event_choices)
    @app_commands.choices(choice=[app_commands.Choice(name=label, value=value) for value, label in
                                  (("going", "Going"), ("maybe", "Maybe"), ("no", "Can't go"))])
    async def rsvp(interaction: discord.Interaction, event: str, choice: str) -> None:
        await answer(interaction, commands.rsvp, event, choice)

    @group.command(name="help", description="What the bot can do")
    async def show_help(interaction: discord.Interaction) -> None:
        await interaction.response.send_message(render(commands.help()), ephemeral=True)

    return group


class SoonishBot(discord.Client):
    def __init__(self, flask_app: Flask) -> None:
        use_api(flask_app.config)
        # Slash commands need no privileged intents.
        super().__init__(intents=discord.Intents.default())
        self.tree = app_commands.CommandTree(self)
        self.flask_app = flask_app
        self.commands = Commands(flask_app)
        self.tree.add_command(command_group(self.commands))

    async def on_interaction(self, interaction: discord.Interaction) -> None:
        """Going / Maybe / Can't go and "Follow this event" buttons under our posts (sent by the
        worker, not by a view of this process, so they are read here by their custom id)."""
        if interaction.type != discord.InteractionType.component:
            return
        custom_id = str((interaction.data or {}).get("custom_id", ""))
        pressed = parse_discord_id(custom_id)
        if pressed is not None:
            call = (self.commands.rsvp_button, *pressed)
        elif (event_id := parse_discord_follow(custom_id)) is not None:
            call = (self.commands.follow_button, event_id)
        elif custom_id.startswith(PRESS_ID_PREFIX):
            call = (self.commands.press, custom_id.removeprefix(PRESS_ID_PREFIX))
        else:
            return
        await interaction.response.defer(ephemeral=True, thinking=True)
        reply = await asyncio.to_thread(call[0], speaker(interaction), *call[1:])
        await interaction.followup.send(render(reply), ephemeral=True)

    async def setup_hook(self) -> None:
        # Registers /soonish with Discord (global commands; one bulk call per start).
        await self.tree.sync()

    # The servers the bot is in (GUILD_CREATE: at connect, and when added), and the ones it
    # left or was removed from (GUILD_DELETE; not an outage, which discord.py reports apart).
    async def on_guild_join(self, guild: discord.Guild) -> None:
        await asyncio.to_thread(self._in_server, guild)

    async def on_guild_available(self, guild: discord.Guild) -> None:
        await asyncio.to_thread(self._in_server, guild)

    async def on_guild_remove(self, guild: discord.Guild) -> None:
        channels = [str(channel.id) for channel in guild.channels]
        await asyncio.to_thread(self._left_server, str(guild.id), channels)

    def _in_server(self, guild: discord.Guild) -> None:
        with self.flask_app.app_context():
            chat_installations.add_server(str(guild.id), guild.name or "")

    def _left_server(self, guild_id: str, channel_ids: list[str]) -> None:
        with self.flask_app.app_context():
            chat_installations.left_server(guild_id, channel_ids)


def run_bot(flask_app: Flask) -> None:
    """Run the bot until SIGINT or SIGTERM, then leave the gateway cleanly."""

    async def run() -> None:
        async with SoonishBot(flask_app) as bot:  # made on the loop that runs it
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(sig, lambda: loop.create_task(bot.close()))
            await bot.start(flask_app.config["DISCORD_BOT_TOKEN"])

    asyncio.run(run())
