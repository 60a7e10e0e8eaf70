"""Every setting Soonish reads, with its default.

Each one can be set in the environment as ``SOONISH_<NAME>`` (``app.config.from_prefixed_env``);
``.env.example`` documents them all.
"""
import dataclasses
import os
from collections.abc import MutableMapping
from typing import ClassVar, Self
from urllib.parse import quote, urlencode

ENV_PREFIX = "SOONISH_"


def usable_cores() -> int:
    """The cores this process may run on: a container's or taskset's CPU set, not the host's."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


class Config:
    SECRET_KEY = "dev-insecure-secret-change-me"  # `soonish web` refuses it unless DEV
    # A development machine: plain http, the default secret allowed. `soonish dev` sets it.
    DEV = False
    LOG_LEVEL = "INFO"
    # Database: SQLite under instance/ unless set (e.g. postgresql+psycopg://user@host/db).
    DATABASE_URL = ""
    # Connections idle for a second are checked before use (models/base.py, ping_when_idle).
    SQLALCHEMY_ENGINE_OPTIONS: dict = {}
    # PostgreSQL read replicas (streaming standbys of DATABASE_URL), separated by commas or
    # spaces; none: every query goes to DATABASE_URL. Requests that only read use a replica that
    # answers and lags at most REPLICA_MAX_LAG_SECONDS (checked at most once per
    # REPLICA_CHECK_SECONDS per process); a request that writes, and every request of a browser
    # or client that wrote in the last REPLICA_STICKY_SECONDS (a signed cookie says so), uses
    # the primary. Workers always do. README "Running in production" says more.
    DATABASE_REPLICA_URLS = ""
    REPLICA_MAX_LAG_SECONDS = 5.0
    REPLICA_STICKY_SECONDS = 10
    REPLICA_CHECK_SECONDS = 1.0

    # Temporal: the embedded dev server by default; a cluster or Temporal Cloud via these.
    TEMPORAL_ADDRESS = "127.0.0.1:7233"
    TEMPORAL_NAMESPACE = "default"
    TEMPORAL_TASK_QUEUE = "soonish"  # workflows, and the activities that plan and sync
    # Delivery batches (the bulk of the work), polled by `soonish worker --role delivery|all`.
    # Empty: TEMPORAL_TASK_QUEUE + "-delivery".
    TEMPORAL_DELIVERY_TASK_QUEUE = ""
    TEMPORAL_API_KEY = ""  # Temporal Cloud API key (implies TLS)
    TEMPORAL_TLS = False
    TEMPORAL_TLS_CERT = ""  # path to client certificate (mTLS)
    TEMPORAL_TLS_KEY = ""  # path to client private key (mTLS)
    TEMPORAL_TLS_CA = ""  # path to server CA, when not a public CA
    # Prefix for workflow and schedule ids, so several deployments can share one namespace.
    TEMPORAL_ID_PREFIX = ""
    TEMPORAL_DEV_PORT = 7233
    TEMPORAL_DEV_UI_PORT = 8233

    # Offer the accented pseudo-English (soonish/i18n/__init__.py PSEUDO_LOCALE) to Accept-Language and
    # the language setting: the tests render every page in it to find English left unmarked.
    PSEUDO_LOCALE = False

    # JSON API bearer tokens.
    JWT_EXPIRES_SECONDS = 3600
    # How passwords are hashed (werkzeug's method string). scrypt costs ~0.1 s of CPU and 32 MB
    # per hash on purpose; the test suite, which signs hundreds of people up, sets a cheap one.
    # A stored hash names its own method, so changing this never locks anyone out.
    PASSWORD_HASH_METHOD = "scrypt"

    # Static files (web/assets.py): the folder served at /static (empty: the checkout's static/),
    # and the origin pages load them from, for a CDN in front (https://cdn.example.com; empty:
    # this site). The Content-Security-Policy allows that origin.
    STATIC_FOLDER = ""
    STATIC_URL = ""

    # Web server for `soonish web` / `soonish dev`.
    WEB_BIND = "127.0.0.1:5000"
    # Processes, each serving one request at a time (gunicorn's sync workers). A request is
    # Python work holding the GIL more than it waits, so threads in one process mostly queue for
    # it: bench/follow.py measured follow p99 257-311 ms with 2 processes x 4 threads and 161-250
    # ms with 2-4 single-threaded processes, for the same throughput. Raise WEB_THREADS
    # (gunicorn's gthread workers) only for requests that mostly wait; see README "Production".
    # One process per core keeps the cores busy, and one more covers a process waiting on the
    # database. More only take turns on the cores: on 2 cores with PostgreSQL, in alternated
    # bench/follow.py runs, 4 processes spent 4.4-5.1 ms of CPU per follow and 3 spent 3.8-4.7;
    # over all runs follow p99 was 223-283 ms with 4 (6 of 11 within 250) and 179-271 with 3 (9 of 11).
    WEB_WORKERS = usable_cores() + 1
    WEB_THREADS = 1
    # Request bodies: 1 MiB is many times the largest JSON or form the app takes (an event with
    # its 10,000-character details); routes that take uploads set their own (web/request_bounds.py).
    # Werkzeug refuses a longer body with a 413 before reading it.
    MAX_CONTENT_LENGTH = 1024 * 1024

    # Worker metrics for Prometheus, host:port each ("" = off): the Temporal SDK's own
    # (task latencies, polls, slots) and Soonish's (deliveries, reminder lateness).
    WORKER_METRICS_BIND = ""
    WORKER_APP_METRICS_BIND = ""
    # A secret Prometheus sends as "Authorization: Bearer …" to scrape the web app's /metrics;
    # empty: /metrics is open (restrict it at the proxy instead).
    METRICS_TOKEN = ""
    # /readyz checks the database and Temporal at most once per this many seconds per web
    # process, whatever the probe rate (readiness turns 503 at most this + 2 s after an outage).
    READINESS_CACHE_SECONDS = 2.0

    # Rate limits (Flask-Limiter syntax). Counters are in memory per process unless a storage URL
    # (redis://host:6379/0) is set; set one whenever more than one web process runs.
    RATELIMIT_STORAGE_URL = ""
    RATELIMIT_ENABLED = True
    # A storage outage must not lock everyone out: count in memory until it is back.
    RATELIMIT_SWALLOW_ERRORS = True
    RATELIMIT_IN_MEMORY_FALLBACK_ENABLED = True
    # Failed sign-ins (page form and API token together): per account from one IP, and per IP
    # across accounts. Successful ones are not counted and clear the account's failures.
    LOGIN_RATE_LIMIT = "5 per 15 minutes"
    LOGIN_RATE_LIMIT_PER_IP = "20 per 15 minutes"
    API_RATE_LIMIT = "100 per minute"  # per signed-in user, per IP when anonymous
    SUBSCRIBE_RATE_LIMIT_PER_IP = "20 per hour"
    SUBSCRIBE_RATE_LIMIT_PER_EMAIL = "3 per hour"
    # "Forgot password" mails a reset link: limited per IP and per address, like subscribing.
    PASSWORD_RESET_RATE_LIMIT_PER_IP = "10 per hour"
    PASSWORD_RESET_RATE_LIMIT_PER_EMAIL = "3 per hour"
    # "Mail me a link to start again" mails an address that bounced or complained: each such
    # mail costs the sender's standing, so few per address.
    LIFT_LINK_RATE_LIMIT_PER_EMAIL = "3 per day"
    # Reverse proxies in front of the web processes whose X-Forwarded-* headers are trusted
    # (0: none). Per-IP limits and secure-request detection depend on getting this right.
    TRUSTED_PROXIES = 0

    # Field encryption: comma-separated Fernet keys, newest first. Empty: derived from SECRET_KEY
    # (fine for development; set real keys in production so SECRET_KEY can rotate on its own).
    ENCRYPTION_KEYS = ""

    # Public base URL, for links in mails and chat messages.
    PUBLIC_URL = "http://127.0.0.1:5000"
    # Integration URLs whose host resolves to loopback/private/link-local addresses are refused
    # unless this is on (tests and `make run` turn it on; production must not).
    ALLOW_PRIVATE_TARGETS = False

    # Web Push (RFC 8292 VAPID): the private key that signs every push (`soonish keygen --vapid`
    # makes one; `make run` keeps one in instance/), and the contact push services may write to.
    # Browsers subscribe to its public key: changing the key orphans every device subscribed.
    # Empty: "Notify me on this device" is not offered.
    VAPID_PRIVATE_KEY = ""
    VAPID_SUBJECT = "mailto:admin@soonish.localhost"
    # How long a push notification's RSVP / still-coming buttons work (seconds).
    PUSH_ANSWER_MAX_AGE = 30 * 86400

    # Outgoing mail. With no SMTP_HOST, mail is written to instance/outbox/ (see /dev/outbox).
    MAIL_FROM = "Soonish <no-reply@soonish.localhost>"
    SMTP_HOST = ""
    SMTP_PORT = 587
    SMTP_USERNAME = ""
    SMTP_PASSWORD = ""
    SMTP_STARTTLS = True
    SMTP_SSL = False
    SMTP_TIMEOUT = 20
    # Reconnect after this many messages on one connection (0: never), for servers that
    # take only so many per connection and then answer 421.
    SMTP_MESSAGES_PER_CONNECTION = 0
    # An SMTP 421/450/451/452 ("not now") says no when: the mail is sent again this much later.
    SMTP_TEMPORARY_WAIT_SECONDS = 1.0
    # Mail reputation (README "Mail reputation"). Each mail's envelope sender is
    # bounces+<signed ref>@BOUNCE_DOMAIN, whose MX is `soonish mail-in` (empty: MAIL_FROM's address,
    # and bounces go nowhere). MAIL_IN_BIND is where `soonish mail-in` (and `soonish dev`) listen.
    BOUNCE_DOMAIN = ""
    MAIL_IN_BIND = "127.0.0.1:2525"
    # A broadcast whose first this many mails bounce above 10% waits for its organizer to resume it.
    BROADCAST_PAUSE_AFTER_MAILS = 1000
    # DKIM: the selector and the private key (PEM text, or a path to the PEM file); the signing
    # domain is DKIM_DOMAIN or MAIL_FROM's domain. Unset: mail goes unsigned (a relay may sign).
    # Bounces and complaints from a sending provider's webhooks (/webhooks/mail/<provider>):
    # the SNS topics of Amazon SES's notifications (comma-separated ARNs; empty: any topic whose
    # messages SNS signed), the Basic credentials set in Postmark's webhook URL, Mailgun's
    # webhook signing key. A provider left unset refuses its webhook.
    SES_SNS_TOPIC_ARNS = ""
    POSTMARK_WEBHOOK_USER = ""
    POSTMARK_WEBHOOK_PASSWORD = ""
    MAILGUN_WEBHOOK_SIGNING_KEY = ""
    DKIM_SELECTOR = ""
    DKIM_PRIVATE_KEY = ""
    DKIM_DOMAIN = ""

    # Email confirmation links stay valid this long.
    CONFIRM_LINK_MAX_AGE = 7 * 24 * 3600
    # Password reset and "delete my account" links stay valid this long (and work once).
    ACCOUNT_LINK_MAX_AGE = 3600
    # An email channel's verification link stays valid this long; another one is mailed on
    # request at most once every EMAIL_CHANNEL_RESEND_SECONDS, and at most
    # EMAIL_CHANNELS_WAITING_MAX new addresses of one person wait for their link at once (so
    # nobody can use us to mail strangers).
    EMAIL_CHANNEL_LINK_MAX_AGE = 3 * 24 * 3600
    EMAIL_CHANNEL_RESEND_SECONDS = 300
    EMAIL_CHANNELS_WAITING_MAX = 3
    # A "connect Slack / Discord" code, typed in chat by its signed-in owner, works this long.
    CHAT_CONNECT_CODE_SECONDS = 600
    # Communities: an invitation to help run one works this long (and once); how many one
    # account may own, and how many people may run one.
    COMMUNITY_INVITE_MAX_AGE = 7 * 24 * 3600
    COMMUNITIES_OWNED_MAX = 50
    COMMUNITY_MEMBERS_MAX = 10_000

    # Ledger retention: deliveries of events that are over are folded into per-notification
    # counts and deleted once older than this many days, by the `soonish-retention` schedule
    # (cron, UTC), in batches of LEDGER_PRUNE_BATCH_SIZE rows, each its own short transaction,
    # with a pause between batches so sends never queue behind the prune.
    LEDGER_RETENTION_DAYS = 90
    LEDGER_PRUNE_BATCH_SIZE = 1000
    LEDGER_PRUNE_PAUSE_SECONDS = 0.05
    LEDGER_RETENTION_CRON = "17 3 * * *"
    # Recurring series: the `soonish-series` schedule (cron, UTC) makes each active series'
    # occurrences of the coming weeks into events (creating or editing a series does it at once).
    SERIES_MATERIALIZE_CRON = "41 2 * * *"
    # Community digests: the `soonish-digest` schedule (cron, UTC) mails, once a day, the digest
    # followers of each community whose digest day (its `digest_weekday`, a UTC weekday) it is.
    COMMUNITY_DIGEST_CRON = "7 8 * * *"
    # How far ahead a series' occurrences exist as events, and at most how many upcoming ones.
    SERIES_HORIZON_DAYS = 56
    SERIES_AHEAD_MAX = 10
    # Following again by email within this many seconds does not mail the confirm link again.
    CONFIRM_MAIL_REPEAT_WINDOW = 600
    # The worker's follow outbox drain looks for new rows this often (seconds) when idle.
    OUTBOX_POLL_SECONDS = 0.2

    # The going / maybe / can't go links in mails about an event stay valid this long (answers
    # close at the start anyway), and a place freed for the waitlist is held this long.
    RSVP_LINK_MAX_AGE = 60 * 24 * 3600
    RSVP_OFFER_SECONDS = 12 * 3600

    # A reminder schedule fires this long before the reminder is due, and its workflow sleeps
    # the rest: schedules firing in bursts start late (measured: 300 at once, 23-40 s late),
    # a timer in a running workflow does not.
    REMINDER_LEAD_SECONDS = 120

    # Chat bots (see README "Slack and Discord"). A bot runs only when its token is set.
    SLACK_BOT_TOKEN = ""  # xoxb-…: replies, and broadcasts posted to DMs and channels
    SLACK_SIGNING_SECRET = ""  # verifies requests to /slack/events
    SLACK_APP_TOKEN = ""  # xapp-…: Socket Mode (`soonish bot slack`), for installs without a public URL
    SLACK_API_URL = "https://slack.com/api/"
    # "Add to Slack" for any workspace (README "Slack for many workspaces"): the app's OAuth
    # credentials (Basic Information). Set, each workspace that installs the app gets its own
    # bot token (kept encrypted) and SLACK_BOT_TOKEN is only for workspaces installed before.
    SLACK_CLIENT_ID = ""
    SLACK_CLIENT_SECRET = ""
    # The bot scopes an install asks for: commands, DMs and channel posts, who is an admin, channels.
    SLACK_SCOPES = "commands,chat:write,chat:write.public,users:read,channels:read,groups:read,channels:join"
    SLACK_AUTHORIZE_URL = "https://slack.com/oauth/v2/authorize"
    # Sign in with Slack (OpenID Connect) uses the same client id and secret.
    SLACK_OIDC_AUTHORIZE_URL = "https://slack.com/openid/connect/authorize"
    DISCORD_BOT_TOKEN = ""
    DISCORD_API_URL = "https://discord.com/api/v10"
    DISCORD_GATEWAY_URL = "wss://gateway.discord.gg/"
    # Shown beside "Follow in Slack/Discord" on event pages: where to add the bot (optional).
    SLACK_INSTALL_URL = ""
    # Empty with DISCORD_CLIENT_ID set: Discord's install URL for our bot (discord_install_url).
    DISCORD_INSTALL_URL = ""
    DISCORD_CLIENT_ID = ""  # the application id (Developer Portal → General Information)
    DISCORD_CLIENT_SECRET = ""  # Developer Portal → OAuth2: with the id, "Sign in with Discord"
    DISCORD_OAUTH_AUTHORIZE_URL = "https://discord.com/oauth2/authorize"

    # Fan-out: subscriptions per delivery activity, and sends in flight per activity. 500 per
    # batch: 0.60 of the raw webhook rate against 0.50 at 200 (bench/broadcast.py, 10,000).
    DELIVERY_BATCH_SIZE = 500
    DELIVERY_CONCURRENCY = 50
    # Edits to one event within this many seconds of the first not yet told reach each follower
    # as one update (the final state, and everything that changed); 0 sends one per edit. A
    # fixed window from the first edit, so a storm of edits cannot hold an update back for long.
    UPDATE_COALESCE_SECONDS = 60
    # Delivery budgets (README "Delivery budgets"): every send waits for room in the budgets of
    # where it goes, in `limits` syntax. Shared by all workers through BUDGET_REDIS_URL
    # (redis://host:6379/0); empty: each worker process has budgets of its own.
    BUDGET_REDIS_URL = ""
    BUDGET_KEY_PREFIX = "soonish-budget"
    BUDGET_SLACK_APP = "5 per second"  # Slack: "several hundred messages a minute" per workspace
    BUDGET_SLACK_CHANNEL = "1 per second"  # Slack chat.postMessage, per channel or DM
    BUDGET_DISCORD_GLOBAL = "50 per second"  # Discord, per bot (routes: from Discord's headers)
    BUDGET_TELEGRAM_BOT = "30 per second"
    BUDGET_TELEGRAM_CHAT = "1 per second"
    BUDGET_WEBHOOK_HOST = "100 per second"  # per receiving host (webhooks, other HTTP channels)
    BUDGET_SMTP_HOST = "100 per second"  # our SMTP server
    # Each big mailbox provider's own pace, on top of the SMTP server's (README "Mail reputation").
    BUDGET_MAILBOX_GMAIL = "20 per second"  # gmail.com, googlemail.com
    BUDGET_MAILBOX_MICROSOFT = "10 per second"  # outlook.com, hotmail.com, live.com ...
    BUDGET_MAILBOX_YAHOO = "10 per second"  # yahoo.com, aol.com ...
    BUDGET_MAILBOX_ICLOUD = "10 per second"  # icloud.com, me.com, mac.com

    # Outgoing webhooks to integrators: retried with exponential backoff from the first delay,
    # doubling up to the longest, for the retry window (3 days); an endpoint that takes nothing
    # for a whole window is disabled.
    WEBHOOK_FIRST_RETRY_SECONDS = 30
    WEBHOOK_MAX_RETRY_SECONDS = 21600
    WEBHOOK_RETRY_WINDOW_SECONDS = 259200

    # flask-smorest / OpenAPI.
    API_TITLE = "Soonish API"
    API_VERSION = "v1"
    OPENAPI_VERSION = "3.0.3"
    OPENAPI_URL_PREFIX = "/api/v1"
    OPENAPI_JSON_PATH = "openapi.json"
    OPENAPI_SWAGGER_UI_PATH = "docs"
    OPENAPI_SWAGGER_UI_URL = "/static/vendor/swagger-ui/"

    # The event page as anonymous visitors see it is rendered once per event version and process
    # and kept this many seconds: its counts (which change without a new version) are at most
    # this old, and the page's own polls keep an open page current. 0: render every view.
    EVENT_PAGE_CACHE_SECONDS = 2.0

    # CSRF is enforced per request in web/__init__.py so bearer-token API calls can skip it.
    WTF_CSRF_CHECK_DEFAULT = False
    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    REMEMBER_COOKIE_HTTPONLY = True
    REMEMBER_COOKIE_SAMESITE = "Lax"
    # Cookies only over https. None: on, except with DEV or TESTING (plain http on localhost).
    SESSION_COOKIE_SECURE = None
    REMEMBER_COOKIE_SECURE = None


class FromConfig:
    """A settings dataclass read from the app's config: each field from the setting of its name in
    upper case after ``config_prefix`` (``TEMPORAL_`` and task_queue: TEMPORAL_TASK_QUEUE); a flag
    (a field whose default is a bool) as a bool."""

    config_prefix: ClassVar[str] = ""

    @classmethod
    def from_config(cls, config) -> Self:
        def value(field: dataclasses.Field):
            setting = config[cls.config_prefix + field.name.upper()]
            return bool(setting) if isinstance(field.default, bool) else setting
        return cls(**{field.name: value(field) for field in dataclasses.fields(cls)})


def slack_installs_per_workspace(config) -> bool:
    """"Add to Slack" for any workspace (Slack's OAuth): the app's client id and secret are set.
    Otherwise one workspace, with SLACK_BOT_TOKEN."""
    return bool(config["SLACK_CLIENT_ID"] and config["SLACK_CLIENT_SECRET"])


def slack_runs(config) -> bool:
    return bool(config["SLACK_BOT_TOKEN"]) or slack_installs_per_workspace(config)


# View Channels + Send Messages: all the bot does in a server (slash commands need no permission).
DISCORD_BOT_PERMISSIONS = (1 << 10) | (1 << 11)


def discord_install_url(config) -> str:
    """"Add to Discord": the bot's OAuth2 install URL for any server, with the least it needs."""
    if config["DISCORD_INSTALL_URL"] or not config["DISCORD_CLIENT_ID"]:
        return config["DISCORD_INSTALL_URL"]
    return ("https://discord.com/oauth2/authorize?" +
            urlencode({"client_id": config["DISCORD_CLIENT_ID"], "scope": "bot applications.commands",
                       "permissions": DISCORD_BOT_PERMISSIONS}, quote_via=quote))


def keep_text_settings_text(config: MutableMapping) -> None:
    """``from_prefixed_env`` reads each value as JSON when it can, so a password of digits would
    arrive as a number (and "1e3" as 1000.0). A setting whose default is text takes the
    environment's text exactly."""
    for name, default in vars(Config).items():
        raw = os.environ.get(ENV_PREFIX + name)
        if name.isupper() and isinstance(default, str) and raw is not None:
            config[name] = raw
