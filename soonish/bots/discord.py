"""Discord adapter: the /soonish command group over bots.core, with event autocomplete and
replies only the asker sees. The commands touch the database, so they run on worker threads:
the event loop keeps answering Discord meanwhile."""
import asyncio
import logging
import re
import signal

import discord
import yarl
from discord import app_commands
from discord.app_commands import TranslationContextLocation, TranslationContextTypes, locale_str
from discord.gateway import DiscordWebSocket
from discord.http import Route
from flask import Flask

from soonish.domain.chat_buttons import parse_discord_follow, parse_discord_id
from soonish.domain.chat_markup import DISCORD
from soonish.services import chat_installations
from soonish.bots.core import Commands, Reply, Speaker, more_line
from soonish.i18n import _l, current_locale, format_list, ngettext, render_in, translations_for

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


# The languages Discord's clients show commands in that we ship. Arabic has no Discord client
# locale (discord.Locale lists none), so Arabic readers see the commands in English; English
# clients (en-US, en-GB) read them as written.
DISCORD_LOCALES = {discord.Locale.spain_spanish: "es", discord.Locale.french: "fr",
                   discord.Locale.german: "de", discord.Locale.brazil_portuguese: "pt_BR"}
NAME_LOCATIONS = {TranslationContextLocation.command_name, TranslationContextLocation.group_name,
                  TranslationContextLocation.parameter_name}
# Discord refuses the whole sync for one bad name: 1-32 lowercase letters, digits, - and _.
COMMAND_NAME = re.compile(r"[-_\w]{1,32}")
DESCRIPTION_MAX = 100  # descriptions and choice names alike


class CatalogTranslator(app_commands.Translator):
    """The commands' names, descriptions, options and choices in each Discord client language we
    ship, from our gettext catalogs (the same translations as every other text): Discord shows
    them in the user's client language. What a catalog leaves untranslated, or translates into
    something Discord would refuse, is left to Discord's English."""

    async def translate(self, string: locale_str, locale: discord.Locale,
                        context: TranslationContextTypes) -> str | None:
        ours = DISCORD_LOCALES.get(locale)
        if ours is None:
            return None
        return command_text(translations_for(ours).ugettext(string.message), string.message,
                            context.location in NAME_LOCATIONS)


def command_text(translated: str, english: str, is_name: bool) -> str | None:
    """A translation as Discord takes it (a name in lower case), or None to keep the English."""
    if translated == english:
        return None
    if is_name:
        translated = translated.lower()
        return translated if COMMAND_NAME.fullmatch(translated) else None
    return translated if len(translated) <= DESCRIPTION_MAX else None


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


# The options' names and what they ask for, shared by the commands that take them (Discord
# shows each in the user's client language: CatalogTranslator).
# Translators: a Discord command option's name: one lowercase word (letters, digits, - or _), up to 32 characters
EVENT = locale_str("event")
EVENT_HELP = locale_str("The event's link or slug")
YOUR_EVENT_HELP = locale_str("Your event's link or slug")
# Translators: a Discord command option's name: one lowercase word (letters, digits, - or _), up to 32 characters
HERE = locale_str("here")
# Translators: a Discord command option's name: one lowercase word (letters, digits, - or _), up to 32 characters
WHEN = locale_str("when")


def command_group(commands: Commands) -> app_commands.Group:
    group = app_commands.Group(name="soonish", description=locale_str("Follow events: updates and reminders right here"))

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

    # Translators: a Discord command's name: one lowercase word (letters, digits, - or _), up to 32 characters
    @group.command(name=locale_str("subscribe"),
                   description=locale_str("Follow an event: updates and reminders come to your DMs"))
    @app_commands.rename(event=EVENT, here=HERE)
    @app_commands.describe(event=EVENT_HELP,
                           here=locale_str("Post its updates in this channel instead (channel managers)"))
    @app_commands.autocomplete(event=event_choices)
    async def subscribe(interaction: discord.Interaction, event: str, here: bool = False) -> None:
        await answer(interaction, commands.subscribe, event, here)

    # Translators: a Discord command's name: one lowercase word (letters, digits, - or _), up to 32 characters
    @group.command(name=locale_str("unsubscribe"), description=locale_str("Stop following an event"))
    @app_commands.rename(event=EVENT, here=HERE)
    @app_commands.describe(event=EVENT_HELP,
                           here=locale_str("Stop this channel following it (channel managers)"))
    @app_commands.autocomplete(event=event_choices)
    async def unsubscribe(interaction: discord.Interaction, event: str, here: bool = False) -> None:
        await answer(interaction, commands.unsubscribe, event, here)

    # Translators: a Discord command's name: one lowercase word (letters, digits, - or _), up to 32 characters
    @group.command(name=locale_str("remind"),
                   description=locale_str("When to remind you before an event, e.g. 1d 2h 15m (or off)"))
    # Translators: a Discord command option's name: one lowercase word (letters, digits, - or _), up to 32 characters
    @app_commands.rename(event=EVENT, offsets=locale_str("offsets"))
    @app_commands.describe(event=EVENT_HELP, offsets=locale_str("e.g. 1d 2h 15m, or off"))
    @app_commands.autocomplete(event=event_choices)
    async def remind(interaction: discord.Interaction, event: str, offsets: str) -> None:
        await answer(interaction, commands.remind, event, offsets)

    # Translators: a Discord command's name: one lowercase word (letters, digits, - or _), up to 32 characters
    @group.command(name=locale_str("list"), description=locale_str("The events you follow, with your reminders"))
    async def list_subscriptions(interaction: discord.Interaction) -> None:
        await answer(interaction, commands.list_subscriptions)

    # Translators: a Discord command's name: one lowercase word (letters, digits, - or _), up to 32 characters
    @group.command(name=locale_str("events"), description=locale_str("Upcoming public events"))
    async def events(interaction: discord.Interaction) -> None:
        await answer(interaction, commands.events)

    # Translators: a Discord command's name: one lowercase word (letters, digits, - or _), up to 32 characters
    @group.command(name=locale_str("link"),
                   description=locale_str("Join this Discord account with your Soonish account at an email address"))
    # Translators: a Discord command option's name: one lowercase word (letters, digits, - or _), up to 32 characters
    @app_commands.rename(email=locale_str("email"))
    @app_commands.describe(email=locale_str("Your Soonish account's email address"))
    async def link(interaction: discord.Interaction, email: str) -> None:
        await answer(interaction, commands.link, email)

    # Translators: a Discord command's name: one lowercase word (letters, digits, - or _), up to 32 characters
    @group.command(name=locale_str("connect"), description=locale_str(
        "Join this Discord account with your Soonish account, with a code from its Channels page"))
    # Translators: a Discord command option's name: one lowercase word (letters, digits, - or _), up to 32 characters
    @app_commands.rename(code=locale_str("code"))
    @app_commands.describe(code=locale_str("The code the Channels page shows, e.g. ABCD-2345"))
    async def connect(interaction: discord.Interaction, code: str) -> None:
        await answer(interaction, commands.connect, code)

    # Translators: a Discord command's name: one lowercase word (letters, digits, - or _), up to 32 characters
    @group.command(name=locale_str("create"),
                   description=locale_str("Organizers: create an event, e.g. title Team lunch, when tomorrow 7pm"))
    # Translators: a Discord command option's name: one lowercase word (letters, digits, - or _), up to 32 characters
    @app_commands.rename(title=locale_str("title"), when=WHEN)
    @app_commands.describe(title=locale_str("The event's title"), when=locale_str("e.g. tomorrow 7pm, fri 18:30, in 3 hours"))
    async def create(interaction: discord.Interaction, title: str, when: str) -> None:
        await answer(interaction, commands.create, title, when)

    # Translators: a Discord command's name: one lowercase word (letters, digits, - or _), up to 32 characters
    @group.command(name=locale_str("announce"),
                   description=locale_str("Organizers: send a message to everyone following your event"))
    # Translators: a Discord command option's name: one lowercase word (letters, digits, - or _), up to 32 characters
    @app_commands.rename(event=EVENT, text=locale_str("text"))
    @app_commands.describe(event=YOUR_EVENT_HELP, text=locale_str("The message"))
    @app_commands.autocomplete(event=event_choices)
    async def announce(interaction: discord.Interaction, event: str, text: str) -> None:
        await answer(interaction, commands.announce, event, text)

    # Translators: a Discord command's name: one lowercase word (letters, digits, - or _), up to 32 characters
    @group.command(name=locale_str("edit"), description=locale_str("Organizers: move your event to a new time"))
    @app_commands.rename(event=EVENT, when=WHEN)
    @app_commands.describe(event=YOUR_EVENT_HELP, when=locale_str("e.g. fri 18:30"))
    @app_commands.autocomplete(event=event_choices)
    async def edit(interaction: discord.Interaction, event: str, when: str) -> None:
        await answer(interaction, commands.edit_when, event, when)

    # Translators: a Discord command's name: one lowercase word (letters, digits, - or _), up to 32 characters
    @group.command(name=locale_str("cancel"), description=locale_str("Organizers: cancel your event (you confirm first)"))
    @app_commands.rename(event=EVENT)
    @app_commands.describe(event=YOUR_EVENT_HELP)
    @app_commands.autocomplete(event=event_choices)
    async def cancel(interaction: discord.Interaction, event: str) -> None:
        await answer(interaction, commands.cancel, event)

    # Translators: a Discord command's name: one lowercase word (letters, digits, - or _), up to 32 characters
    @group.command(name=locale_str("rsvp"), description=locale_str("Say whether you're coming: going, maybe or no"))
    # Translators: a Discord command option's name: one lowercase word (letters, digits, - or _), up to 32 characters
    @app_commands.rename(event=EVENT, choice=locale_str("answer"))
    @app_commands.describe(event=EVENT_HELP, choice=locale_str("going, maybe or no"))
    @app_commands.autocomplete(event=event_choices)
    @app_commands.choices(choice=[app_commands.Choice(name=locale_str("Going"), value="going"),
                                  app_commands.Choice(name=locale_str("Maybe"), value="maybe"),
                                  app_commands.Choice(name=locale_str("Can't go"), value="no")])
    async def rsvp(interaction: discord.Interaction, event: str, choice: str) -> None:
        await answer(interaction, commands.rsvp, event, choice)

    # Translators: a Discord command's name: one lowercase word (letters, digits, - or _), up to 32 characters
    @group.command(name=locale_str("help"), description=locale_str("What the bot can do"))
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
        # Registers /soonish with Discord (global commands; one bulk call per start), with its
        # texts in each client language we ship.
        await self.tree.set_translator(CatalogTranslator())
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
