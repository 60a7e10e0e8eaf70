"""What the delivery domain passes around besides the message (``messages.Message``): where it
goes, and the settings the transports need. Plain data, no I/O."""
from dataclasses import dataclass, field

from soonish.config import FromConfig
from soonish.domain.chat_markup import ChatPlatform
from soonish.domain.delivery.mail_signing import DkimKey
from soonish.domain.push import PushSubscription


@dataclass(frozen=True)
class ChatAddress:
    """Where our bot posts: a person's DM (their user id) or a channel (its id)."""

    platform: ChatPlatform
    recipient: str
    is_channel: bool = False
    workspace_id: str = ""  # Slack team id, Discord guild id ("" for a Discord person)
    # The workspace's own bot token (its installation's); empty: the deployment's single token.
    # Never shown: not in repr, logs or errors.
    token: str = field(default="", repr=False)
    removed: bool = False  # our app was removed from the workspace: nothing is sent

    def __post_init__(self) -> None:
        # Stored as a plain string in the database: take it as the enum, refuse an unknown one.
        object.__setattr__(self, "platform", ChatPlatform(self.platform))


@dataclass(frozen=True)
class SignedEndpoint:
    """An integrator's webhook endpoint, and the secret our messages to it are signed with."""

    url: str
    secret: str = field(repr=False)


@dataclass(frozen=True)
class Destination:
    """Exactly one of: a plain email address (our SMTP), an Apprise URL (a secret), a chat
    address our bot posts to, an integrator's endpoint (signed webhooks), or a browser's Web Push
    subscription (domain.push)."""

    email: str | None = None
    apprise_url: str | None = None
    chat: ChatAddress | None = None
    signed_webhook: SignedEndpoint | None = None
    push: "PushSubscription | None" = None


@dataclass(frozen=True)
class PushSettings(FromConfig):
    """Our VAPID key (RFC 8292) and the contact push services see in its JWT."""

    vapid_private_key: str = ""
    vapid_subject: str = "mailto:admin@soonish.localhost"


@dataclass(frozen=True)
class ChatSettings(FromConfig):
    """The bots' tokens and the platforms' API roots (tests point these at fakes on loopback)."""

    slack_bot_token: str = ""
    slack_api_url: str = "https://slack.com/api/"
    discord_bot_token: str = ""
    discord_api_url: str = "https://discord.com/api/v10"


@dataclass(frozen=True)
class MailSettings:
    sender: str
    host: str = ""  # empty: write to outbox_dir instead of sending
    port: int = 587
    username: str = ""
    password: str = ""
    starttls: bool = True
    use_ssl: bool = False
    timeout: float = 20
    outbox_dir: str = ""
    messages_per_connection: int = 0  # 0: as many as the server takes
    # Return paths per message (domain.mail_reputation): bounces+<signed ref>@bounce_domain;
    # empty: the sender's address, as before.
    bounce_domain: str = ""
    return_path_secret: str = ""
    dkim: DkimKey | None = None  # set: every mail is DKIM-signed with it

    @classmethod
    def from_config(cls, config, outbox_dir: str) -> "MailSettings":
        return cls(
            sender=config["MAIL_FROM"], host=config["SMTP_HOST"], port=int(config["SMTP_PORT"]),
            username=config["SMTP_USERNAME"], password=config["SMTP_PASSWORD"],
            starttls=bool(config["SMTP_STARTTLS"]), use_ssl=bool(config["SMTP_SSL"]),
            timeout=float(config["SMTP_TIMEOUT"]), outbox_dir=outbox_dir,
            messages_per_connection=int(config["SMTP_MESSAGES_PER_CONNECTION"]),
            bounce_domain=config["BOUNCE_DOMAIN"], return_path_secret=config["SECRET_KEY"],
            dkim=DkimKey.from_config(config, config["MAIL_FROM"]),
        )
