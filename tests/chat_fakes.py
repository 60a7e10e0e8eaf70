"""Slack's and Discord's servers, faked on loopback: they speak the platforms' HTTP APIs (and
Discord's gateway websocket) and record what our bots and our worker sent them."""
import base64
import hashlib
import hmac
import itertools
import json
import math
import secrets
import threading
import time
from dataclasses import dataclass, field
from urllib.parse import urlencode

from aiohttp import WSMsgType, web

from soonish.models import Delivery, db

from loopback.sinks import LoopbackServer, wait_until

SIGNING_SECRET = "test-signing-secret"
TEAM = "T0TEAM"
CLIENT_ID = "1111.2222"
CLIENT_SECRET = "test-client-secret"
APP_ID = "A0APP"


@dataclass
class Workspace:
    """A Slack workspace (or, with ``org_teams``, a Grid organization installing org-wide)."""

    team_id: str
    name: str
    enterprise_id: str | None = None
    org_teams: list[tuple[str, str]] = field(default_factory=list)  # an org-wide install's workspaces

    @property
    def org_wide(self) -> bool:
        return bool(self.org_teams)


def json_answer(data, status: int = 200) -> web.Response:
    # Exactly "application/json": discord.py reads any other content type as plain text.
    return web.Response(body=json.dumps(data).encode(), status=status, headers={"Content-Type": "application/json"})


async def request_fields(request: web.Request) -> dict:
    """What a Slack Web API call carried: query, form or JSON."""
    fields = dict(request.query)
    if request.content_type == "application/json":
        fields.update(await request.json())
    else:
        fields.update(await request.post())
    return fields


class FakePlatform:
    """A platform's servers: an aiohttp app on loopback, started and stopped by the fixtures."""

    def __init__(self, app: web.Application, name: str) -> None:
        self._server = LoopbackServer(app, name)
        self.started = False  # its port is chosen at once; nothing listens there before start()

    def start(self):
        self._server.start()
        self.started = True
        return self

    def stop(self) -> None:
        self._server.stop()

    def url(self, path: str, scheme: str = "http") -> str:
        return f"{scheme}://127.0.0.1:{self._server.port}{path}"


class FakeSlack(FakePlatform):
    """Slack's Web API (the calls we make) and the response URLs of slash commands."""

    def __init__(self) -> None:
        self.posted: list[dict] = []  # chat.postMessage bodies
        # People our bot cannot DM, and the error Slack gives for each (cannot_dm_bot, user_not_found, …).
        self.refused_dms: dict[str, str] = {}
        self.responses: list[dict] = []  # what the bot answered at a command's response_url
        self.admins: set[str] = set()
        # Slack users' languages by user id, as users.info names them with include_locale ("fr-FR").
        self.locales: dict[str, str] = {}
        # Channels the bot is a member of; the rest are public unless listed in private_channels.
        self.member_of: set[str] = {"C0GENERAL"}
        self.private_channels: set[str] = set()
        self.scopes: set[str] = {"commands", "chat:write", "users:read", "channels:read", "groups:read"}
        # chat.postMessage's app-wide limit, when set: this many a second (windows aligned to the
        # clock); past it, HTTP 429 with Retry-After in whole seconds, as Slack answers.
        self.post_limit: int | None = None
        self._post_window = (0, 0)  # (window, posts in it)
        self.post_statuses: list[int] = []  # the HTTP status of each chat.postMessage, in order
        self._lock = threading.Lock()
        # "Add to Slack": the workspace the next person at the consent page installs into, the
        # redirect URLs the app is configured with, codes issued (code -> workspace, redirect
        # URI), and the bot token each workspace got (token -> workspace); revoked tokens.
        self.installing: Workspace | None = None
        self.redirect_urls: list[str] = []
        self._codes: dict[str, tuple[Workspace, str | None]] = {}
        self.tokens: dict[str, Workspace] = {}
        self.revoked: set[str] = set()
        # Sign in with Slack: the person at the consent page (OpenID Connect claims), user tokens issued.
        self.signing_in: dict | None = None
        self._user_tokens: dict[str, dict] = {}
        self.token_calls: list[tuple[str, str]] = []  # (method, team id of the token) of each token-checked call
        self.refused_calls: list[tuple[str, str]] = []  # the same, for calls with a revoked token
        app = web.Application()
        app.router.add_get("/oauth/v2/authorize", self._authorize)
        app.router.add_get("/openid/connect/authorize", self._authorize)
        app.router.add_route("*", "/api/{method}", self._api)
        app.router.add_post("/respond/{n}", self._respond)
        app.router.add_get("/socket-mode", self._socket_mode)
        self.acknowledged: list[str] = []  # Socket Mode envelopes the app acknowledged
        self._socket: web.WebSocketResponse | None = None
        super().__init__(app, "fake-slack")
        self._ids = itertools.count(1)
        self.api_url = self.url("/api/")

    async def _authorize(self, request: web.Request) -> web.Response:
        """Slack's consent page, the person pressing Allow for ``installing``: back to the
        redirect URL with a one-time code and the state, as Slack sends them."""
        query = request.query
        if query.get("client_id") != CLIENT_ID:
            return web.Response(status=400, text="invalid_client_id")
        redirect_uri = query.get("redirect_uri")
        if redirect_uri is not None and redirect_uri not in self.redirect_urls:
            return web.Response(status=400, text="bad_redirect_uri")
        code = secrets.token_hex(8)
        signing_in = request.path.startswith("/openid/")
        with self._lock:
            self._codes[code] = (self.signing_in if signing_in else self.installing, redirect_uri)
        back = (redirect_uri or self.redirect_urls[0]) + "?" + urlencode({"code": code, "state": query.get("state", "")})
        raise web.HTTPFound(back)

    def _redeem(self, request: web.Request, fields: dict) -> tuple[object, web.Response | None]:
        """A code exchanged by the app: its credentials (HTTP Basic, or in the body), the code
        once, with the redirect URI it was issued for. What the code was for, or Slack's error."""
        client_id, client_secret = fields.get("client_id"), fields.get("client_secret")
        basic = request.headers.get("Authorization", "")
        if basic.startswith("Basic "):
            client_id, _, client_secret = base64.b64decode(basic[6:]).decode().partition(":")
        if client_id != CLIENT_ID:
            return None, json_answer({"ok": False, "error": "invalid_client_id"})
        if client_secret != CLIENT_SECRET:
            return None, json_answer({"ok": False, "error": "bad_client_secret"})
        with self._lock:
            issued = self._codes.pop(fields.get("code", ""), None)
        if issued is None:
            return None, json_answer({"ok": False, "error": "invalid_code"})
        granted, redirect_uri = issued
        if redirect_uri != fields.get("redirect_uri"):
            return None, json_answer({"ok": False, "error": "bad_redirect_uri"})
        return granted, None

    def _openid_token(self, request: web.Request, fields: dict) -> web.Response:
        """openid.connect.token: a user token for the person who signed in (and an id_token)."""
        person, refused = self._redeem(request, fields)
        if refused is not None:
            return refused
        token = f"xoxp-{secrets.token_hex(12)}"
        with self._lock:
            self._user_tokens[token] = person
        return json_answer({"ok": True, "access_token": token, "token_type": "Bearer",
                            "id_token": "eyJhbGciOiJSUzI1NiJ9.e30.signature"})

    def _openid_user_info(self, request: web.Request) -> web.Response:
        """openid.connect.userInfo: the person's claims, for their user token only."""
        person = self._user_tokens.get(request.headers.get("Authorization", "").removeprefix("Bearer "))
        if person is None:
            return json_answer({"ok": False, "error": "invalid_auth"})
        return json_answer({
            "ok": True, "sub": person["user"], "https://slack.com/user_id": person["user"],
            "https://slack.com/team_id": person["team"], "https://slack.com/team_name": person.get("team_name", ""),
            "email": person["email"], "email_verified": person.get("email_verified", True),
            "date_email_verified": 1622128723, "name": person["name"], "given_name": person["name"],
            "locale": "en-US", "picture": "https://secure.gravatar.com/avatar/x.jpg",
        })

    def _oauth_access(self, request: web.Request, fields: dict) -> web.Response:
        """oauth.v2.access: a bot token of the workspace's own."""
        workspace, refused = self._redeem(request, fields)
        if refused is not None:
            return refused
        token = f"xoxb-{workspace.team_id}-{secrets.token_hex(12)}"
        with self._lock:
            self.tokens[token] = workspace
        answer = {
            "ok": True, "access_token": token, "token_type": "bot", "scope": ",".join(sorted(self.scopes)),
            "bot_user_id": f"U0BOT{workspace.team_id}", "app_id": APP_ID,
            "team": None if workspace.org_wide else {"id": workspace.team_id, "name": workspace.name},
            "enterprise": {"id": workspace.enterprise_id, "name": workspace.name} if workspace.enterprise_id else None,
            "authed_user": {"id": "U0INSTALLER"}, "is_enterprise_install": workspace.org_wide,
        }
        return json_answer(answer)

    def _token_problem(self, request: web.Request, method: str) -> web.Response | None:
        """Once the app is installed by OAuth, every call's token is checked: a workspace's own,
        not revoked (Slack: token_revoked), known (invalid_auth)."""
        token = request.headers.get("Authorization", "").removeprefix("Bearer ")
        if not self.tokens:
            return None if token.startswith("xoxb-") else json_answer({"ok": False, "error": "not_authed"})
        if token in self.revoked:
            with self._lock:
                self.refused_calls.append((method, self.tokens[token].team_id))
            return json_answer({"ok": False, "error": "token_revoked"})
        if token not in self.tokens:
            return json_answer({"ok": False, "error": "invalid_auth"})
        with self._lock:
            self.token_calls.append((method, self.tokens[token].team_id))
        return None

    def workspace_of(self, request: web.Request) -> Workspace | None:
        return self.tokens.get(request.headers.get("Authorization", "").removeprefix("Bearer "))

    async def _api(self, request: web.Request) -> web.Response:
        method, fields = request.match_info["method"], await request_fields(request)
        if method == "apps.connections.open" and request.headers.get("Authorization", "").startswith("Bearer xapp-"):
            return json_answer({"ok": True, "url": self.url("/socket-mode", scheme="ws")})
        if method == "oauth.v2.access":
            return self._oauth_access(request, fields)
        if method == "openid.connect.token":
            return self._openid_token(request, fields)
        if method == "openid.connect.userInfo":
            return self._openid_user_info(request)
        if (problem := self._token_problem(request, method)) is not None:
            return problem
        workspace = self.workspace_of(request)
        if method == "apps.uninstall":  # the app's credentials, and the workspace's token it revokes
            if fields.get("client_id") != CLIENT_ID or fields.get("client_secret") != CLIENT_SECRET:
                return json_answer({"ok": False, "error": "invalid_client_id"})
            self.revoke_silently(workspace.team_id)
            return json_answer({"ok": True})
        if method == "auth.teams.list":
            if workspace is None or not workspace.org_wide:
                return json_answer({"ok": False, "error": "not_allowed_token_type"})
            return json_answer({"ok": True, "teams": [{"id": t, "name": n} for t, n in workspace.org_teams],
                                "response_metadata": {"next_cursor": ""}})
        if method == "chat.postMessage":
            if (retry_after := self._over_post_limit()) is not None:
                answer = json_answer({"ok": False, "error": "ratelimited"}, 429)
                answer.headers["Retry-After"] = str(retry_after)
                return answer
            if fields["channel"] in self.refused_dms:  # Slack's errors are HTTP 200 with "ok": false
                return json_answer({"ok": False, "error": self.refused_dms[fields["channel"]]})
            with self._lock:
                # With OAuth installs, which workspace's token made the post.
                self.posted.append({**fields, "token_team": workspace.team_id if workspace else None})
            return json_answer({"ok": True, "channel": fields["channel"], "ts": f"{time.time():.6f}"})
        if method == "auth.test":  # bolt asks on requests it handles, and after an install
            if workspace is not None:
                return json_answer({"ok": True, "team_id": workspace.team_id, "team": workspace.name,
                                    "user_id": f"U0BOT{workspace.team_id}", "bot_id": f"B0{workspace.team_id}",
                                    "user": "soonish", "url": f"https://{workspace.team_id.lower()}.slack.com/",
                                    "enterprise_id": workspace.enterprise_id, "is_enterprise_install": workspace.org_wide})
            return json_answer({"ok": True, "team_id": TEAM, "team": "Acme", "user_id": "U0BOT", "bot_id": "B0BOT",
                                "user": "soonish", "url": "https://acme.slack.com/"})
        if method == "users.info":
            user = fields["user"]
            answer = {"id": user, "is_admin": user in self.admins, "is_owner": False}
            if fields.get("include_locale") in ("true", "1", True):  # Slack says it only when asked
                answer["locale"] = self.locales.get(user, "en-US")
            return json_answer({"ok": True, "user": answer})
        if method == "conversations.info":
            channel = fields["channel"]
            answer = json_answer({"ok": True, "channel": {
                "id": channel, "creator": "U0CREATOR", "is_channel": True, "is_private": channel in self.private_channels,
                "is_member": channel in self.member_of}})
            answer.headers["X-OAuth-Scopes"] = ",".join(sorted(self.scopes))  # Slack names the token's scopes
            return answer
        if method == "conversations.join":
            if "channels:join" not in self.scopes:
                return json_answer({"ok": False, "error": "missing_scope", "needed": "channels:join",
                                    "provided": ",".join(sorted(self.scopes))})
            if fields["channel"] in self.private_channels:
                return json_answer({"ok": False, "error": "method_not_supported_for_channel_type"})
            with self._lock:
                self.member_of.add(fields["channel"])
            return json_answer({"ok": True, "channel": {"id": fields["channel"], "is_member": True}})
        return json_answer({"ok": False, "error": "unknown_method"})

    def _over_post_limit(self) -> int | None:
        """Count one chat.postMessage: None when it is within ``post_limit``, else the
        Retry-After (whole seconds) Slack would give."""
        now = time.time()
        window = math.floor(now)
        with self._lock:
            seen, used = self._post_window
            used = used if seen == window else 0
            over = self.post_limit is not None and used >= self.post_limit
            self._post_window = (window, used + (not over))
            self.post_statuses.append(429 if over else 200)
        return max(1, math.ceil(window + 1 - now)) if over else None

    async def _respond(self, request: web.Request) -> web.Response:
        body = await request.json()
        blocks = body.get("blocks", [])
        # Slack refuses the whole message past Block Kit's limits (and shows the person nothing).
        if len(blocks) > 50 or any(len(b.get("text", {}).get("text", "")) > 3000 for b in blocks):
            return web.Response(status=400, text="invalid_blocks")
        with self._lock:
            self.responses.append(body)
        return web.Response(text="ok")

    async def _socket_mode(self, request: web.Request) -> web.WebSocketResponse:
        socket = web.WebSocketResponse()
        await socket.prepare(request)
        await socket.send_json({"type": "hello", "num_connections": 1, "connection_info": {"app_id": "A0APP"}})
        self._socket = socket
        async for frame in socket:
            if frame.type == WSMsgType.TEXT:
                with self._lock:
                    self.acknowledged.append(json.loads(frame.data)["envelope_id"])
        return socket

    def send_over_socket(self, text: str, user: str = "U0ALICE") -> str:
        """A /soonish command delivered over Socket Mode; returns its envelope id."""
        wait_until(lambda: self._socket is not None, 45, message="the Socket Mode connection")
        envelope_id = f"env-{next(self._ids)}"
        envelope = {"envelope_id": envelope_id, "type": "slash_commands", "accepts_response_payload": True,
                    "payload": command_fields(self, text, user)}
        self._server.run(self._socket.send_json(envelope))
        return envelope_id

    def uninstall(self, team_id: str) -> dict:
        """The app removed from a workspace: its tokens revoked, and the app_uninstalled event
        Slack then sends to the request URL (returned, for the test to post)."""
        with self._lock:
            self.revoked |= {t for t, w in self.tokens.items() if w.team_id == team_id}
        return {"token": "unused", "team_id": team_id, "api_app_id": APP_ID, "type": "event_callback",
                "event": {"type": "app_uninstalled"}, "event_id": f"Ev{next(self._ids)}", "event_time": int(time.time()),
                "authorizations": [{"team_id": team_id, "user_id": f"U0BOT{team_id}", "is_bot": True,
                                    "is_enterprise_install": False}]}

    def revoke_silently(self, team_id: str) -> None:
        """The workspace's token stops working, and no event says so (it was missed)."""
        with self._lock:
            self.revoked |= {t for t, w in self.tokens.items() if w.team_id == team_id}

    def posts_to(self, recipient: str) -> list[dict]:
        with self._lock:
            return [p for p in self.posted if p["channel"] == recipient]

    def response_url(self) -> str:
        return self.url(f"/respond/{next(self._ids)}")

    def dms_to(self, user_id: str) -> list[str]:
        with self._lock:
            return [p["text"] for p in self.posted if p["channel"] == user_id]

    def wait_for_response(self, count: int) -> dict:
        wait_until(lambda: len(self.responses) >= count, 30, message=f"{count} Slack replies")
        return self.responses[count - 1]


def slash_command(slack: FakeSlack, text: str, user: str = "U0ALICE", channel: str = "C0GENERAL",
                  age: int = 0, secret: str = SIGNING_SECRET, team: str = TEAM) -> tuple[str, dict]:
    """A /soonish request as Slack sends it over HTTP: form body and signature headers."""
    body = urlencode(command_fields(slack, text, user, channel, team))
    return body, signed_headers(body, age, secret)


def command_fields(slack: FakeSlack, text: str, user: str = "U0ALICE", channel: str = "C0GENERAL",
                   team: str = TEAM) -> dict:
    # Slack names a DM with the bot "directmessage"; its id starts with D.
    channel_name = "directmessage" if channel.startswith("D") else channel[2:].lower()
    return {
        "token": "unused", "team_id": team, "team_domain": "acme" if team == TEAM else team.lower(), "channel_id": channel,
        "channel_name": channel_name, "user_id": user, "user_name": user.lower(), "command": "/soonish",
        "text": text, "response_url": slack.response_url(), "trigger_id": "1.2.3", "api_app_id": "A0APP",
    }


def block_action(slack: FakeSlack, button: dict, user: str = "U0ALICE", channel: str = "C0GENERAL") -> tuple[str, dict]:
    """A Block Kit button pressed, as Slack posts it to the interactivity URL: form body and
    signature headers."""
    channel_name = "directmessage" if channel.startswith("D") else channel[2:].lower()
    payload = {
        "type": "block_actions", "team": {"id": TEAM}, "user": {"id": user, "name": user[2:].lower()},
        "channel": {"id": channel, "name": channel_name}, "response_url": slack.response_url(),
        "actions": [{"action_id": button["action_id"], "value": button["value"], "type": "button"}],
        "trigger_id": "1.2.3", "api_app_id": "A0APP",
    }
    body = urlencode({"payload": json.dumps(payload)})
    return body, signed_headers(body)


def signed_headers(body: str, age: int = 0, secret: str = SIGNING_SECRET,
                   content_type: str = "application/x-www-form-urlencoded") -> dict:
    """Slack's signature over a body (a form's, or an event's JSON), made ``age`` seconds ago."""
    timestamp = int(time.time()) - age
    base = f"v0:{timestamp}:{body}".encode()
    return {
        "Content-Type": content_type,
        "X-Slack-Request-Timestamp": str(timestamp),
        "X-Slack-Signature": "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest(),
    }


BOT_USER = {"id": "900000000000000001", "username": "soonish", "discriminator": "0", "avatar": None,
            "bot": True, "global_name": None}
APPLICATION_ID = "900000000000000002"
GUILD = "900000000000000003"
DISCORD_CLIENT_SECRET = "discord-client-secret"
CHANNEL = "900000000000000004"
VIEW_CHANNEL, SEND_MESSAGES = 1 << 10, 1 << 11


class FakeDiscord(FakePlatform):
    """Discord's REST API (the calls discord.py and our worker make) and its gateway."""

    def __init__(self) -> None:
        self.followups: list[dict] = []  # what the bot answered interactions with
        self.callbacks: list[dict] = []  # interaction callbacks: defers, replies, autocomplete choices
        self.dm_channels: dict[str, str] = {}  # recipient -> DM channel id
        self.messages: list[dict] = []  # create-message calls: channel_id, content, nonce
        self.closed_dms: set[str] = set()  # people who take no DMs from our bot
        self.synced_commands: list[dict] = []
        self.refused_logins = 0  # answer this many logins 401, as Discord does a bad token
        # Create-message's route bucket per channel, when set: (limit, window seconds), with
        # Discord's X-RateLimit-* headers on every answer and a 429 past the limit.
        self.message_bucket: tuple[int, float] | None = None
        self._buckets: dict[str, tuple[float, int]] = {}  # channel -> (window start, used)
        self.requests: list[tuple[str, float, int]] = []  # (path, monotonic arrival, status) of our worker's calls
        self._lock = threading.Lock()
        self._socket: web.WebSocketResponse | None = None
        self._sequence = itertools.count(2)
        self._ids = itertools.count(800000000000000001)
        app = web.Application()
        api = "/api/v10"
        # Sign in with Discord: the person at the consent page, the app's redirect URLs, codes
        # (code -> (person, redirect URI)), and the bearer tokens issued for them.
        self.signing_in: dict | None = None
        self.redirect_urls: list[str] = []
        self._codes: dict[str, tuple[dict, str]] = {}
        self._bearers: dict[str, dict] = {}
        app.router.add_get("/oauth2/authorize", self._oauth_authorize)
        app.router.add_post(f"{api}/oauth2/token", self._oauth_token)
        app.router.add_get(f"{api}/users/@me", self._login)
        app.router.add_get(f"{api}/oauth2/applications/@me", self._application)
        app.router.add_put(f"{api}/applications/{{app}}/commands", self._sync_commands)
        app.router.add_post(f"{api}/interactions/{{id}}/{{token}}/callback", self._interaction_callback)
        app.router.add_post(f"{api}/webhooks/{{app}}/{{token}}", self._followup)
        app.router.add_post(f"{api}/users/@me/channels", self._open_dm)
        app.router.add_post(f"{api}/channels/{{channel}}/messages", self._create_message)
        app.router.add_get("/gateway", self._gateway)
        super().__init__(app, "fake-discord")
        self.api_url = self.url(api)
        self.gateway_url = self.url("/gateway", scheme="ws")

    def _authorized(self, request: web.Request) -> bool:
        return request.headers.get("Authorization") == "Bot discord-test-token"

    async def _oauth_authorize(self, request):
        """Discord's consent page, the person pressing Authorize: back with a code and the state."""
        query = request.query
        if query.get("client_id") != APPLICATION_ID or query.get("redirect_uri") not in self.redirect_urls:
            return web.Response(status=400, text="Invalid OAuth2 redirect_uri")
        code = secrets.token_hex(8)
        with self._lock:
            self._codes[code] = (self.signing_in, query["redirect_uri"])
        raise web.HTTPFound(query["redirect_uri"] + "?" + urlencode({"code": code, "state": query.get("state", "")}))

    async def _oauth_token(self, request):
        """The code exchanged, with the app's credentials as HTTP Basic, once, for its redirect URI."""
        fields = await request.post()
        client_id, _, secret = base64.b64decode(request.headers.get("Authorization", "Basic ")[6:]).decode().partition(":")
        if client_id != APPLICATION_ID or secret != DISCORD_CLIENT_SECRET:
            return json_answer({"error": "invalid_client"}, 401)
        with self._lock:
            issued = self._codes.pop(fields.get("code", ""), None)
        if issued is None or fields.get("grant_type") != "authorization_code" or issued[1] != fields.get("redirect_uri"):
            return json_answer({"error": "invalid_grant", "error_description": 'Invalid "code" in request.'}, 400)
        token = secrets.token_hex(15)
        with self._lock:
            self._bearers[token] = issued[0]
        return json_answer({"access_token": token, "token_type": "Bearer", "expires_in": 604800,
                            "refresh_token": secrets.token_hex(15), "scope": "identify email"})

    async def _login(self, request):
        person = self._bearers.get(request.headers.get("Authorization", "").removeprefix("Bearer "))
        if person is not None:  # a signed-in person's own token: who they are
            return json_answer({"id": person["id"], "username": person["username"], "global_name": person["username"],
                                "discriminator": "0", "avatar": None, "email": person.get("email"),
                                "verified": person.get("verified", True)})
        with self._lock:
            refuse, self.refused_logins = self.refused_logins > 0, max(self.refused_logins - 1, 0)
        if refuse or not self._authorized(request):
            return json_answer({"message": "401: Unauthorized", "code": 0}, 401)
        return json_answer(BOT_USER)

    async def _application(self, request):
        return json_answer({
            "id": APPLICATION_ID, "name": "Soonish", "description": "", "icon": None, "bot_public": True,
            "bot_require_code_grant": False, "owner": BOT_USER, "verify_key": "0" * 64, "flags": 0,
        })

    async def _sync_commands(self, request):
        commands = await request.json()
        with self._lock:
            self.synced_commands = commands
        return json_answer([{**c, "id": str(next(self._ids)), "application_id": APPLICATION_ID, "version": "1"}
                            for c in commands])

    async def _interaction_callback(self, request):
        body = await request.json()
        with self._lock:
            self.callbacks.append(body)
            if body.get("type") == 4:  # an immediate reply (help)
                self.followups.append(body["data"])
        interaction = {"id": request.match_info["id"], "type": 2,
                       "response_message_loading": body.get("type") == 5,
                       "response_message_ephemeral": bool(body.get("data", {}).get("flags", 0) & 64)}
        return json_answer({"interaction": interaction})

    async def _followup(self, request):
        body = await request.json()
        if len(body.get("content", "")) > 2000:  # Discord's answer to a message over its limit
            return json_answer({"code": 50035, "message": "Invalid Form Body", "errors": {"content": {"_errors": [
                {"code": "BASE_TYPE_MAX_LENGTH", "message": "Must be 2000 or fewer in length."}]}}}, 400)
        with self._lock:
            self.followups.append(body)
        return json_answer(self._message(CHANNEL, body.get("content", "")))

    def _count(self, request, status: int) -> None:
        with self._lock:
            self.requests.append((request.path, time.monotonic(), status))

    async def _open_dm(self, request):
        if not self._authorized(request):
            self._count(request, 401)
            return json_answer({"message": "401: Unauthorized", "code": 0}, 401)
        self._count(request, 200)
        recipient = (await request.json())["recipient_id"]
        with self._lock:
            channel = self.dm_channels.setdefault(recipient, str(next(self._ids)))
        return json_answer({"id": channel, "type": 1, "recipients": [{**BOT_USER, "id": recipient, "bot": False}]})

    async def _create_message(self, request):
        if not self._authorized(request):
            self._count(request, 401)
            return json_answer({"message": "401: Unauthorized", "code": 0}, 401)
        body = await request.json()
        channel = request.match_info["channel"]
        headers = {}
        with self._lock:
            if any(self.dm_channels.get(user) == channel for user in self.closed_dms):
                # What Discord answers when the person's DMs are closed to the bot.
                self.requests.append((request.path, time.monotonic(), 403))
                return json_answer({"message": "Cannot send messages to this user", "code": 50007}, 403)
            if self.message_bucket is not None:
                headers = self._charge_bucket(channel)
                if headers["X-RateLimit-Remaining"] == "-1":
                    retry_after = float(headers["X-RateLimit-Reset-After"])
                    headers.update({"X-RateLimit-Remaining": "0", "X-RateLimit-Scope": "user",
                                    "Retry-After": str(math.ceil(retry_after))})
                    self.requests.append((request.path, time.monotonic(), 429))
                    answer = json_answer({"message": "You are being rate limited.", "retry_after": retry_after,
                                          "global": False}, 429)
                    answer.headers.update(headers)
                    return answer
            self.requests.append((request.path, time.monotonic(), 200))
            self.messages.append({"channel_id": channel, **body})
        answer = json_answer(self._message(channel, body["content"]))
        answer.headers.update(headers)
        return answer

    def _charge_bucket(self, channel: str) -> dict:
        """Discord's headers for one more request in the channel's bucket (a fixed window from
        its first request); Remaining "-1" means this one is over the limit."""
        limit, window = self.message_bucket
        now = time.monotonic()
        start, used = self._buckets.get(channel, (now, 0))
        if now - start >= window:
            start, used = now, 0
        used += 1
        if used <= limit:
            self._buckets[channel] = (start, used)
        reset_after = max(0.0, start + window - now)
        return {"X-RateLimit-Limit": str(limit), "X-RateLimit-Remaining": str(limit - used),
                "X-RateLimit-Reset-After": f"{reset_after:.3f}", "X-RateLimit-Bucket": "create-message-bucket"}

    def _message(self, channel: str, content: str) -> dict:
        return {"id": str(next(self._ids)), "channel_id": channel, "content": content, "author": BOT_USER,
                "timestamp": "2030-01-01T00:00:00+00:00", "edited_timestamp": None, "tts": False,
                "mention_everyone": False, "mentions": [], "mention_roles": [], "attachments": [],
                "embeds": [], "pinned": False, "type": 0, "flags": 0}

    async def _gateway(self, request):
        """Hello, then Ready after the bot identifies; heartbeats are acknowledged."""
        socket = web.WebSocketResponse()
        await socket.prepare(request)
        await socket.send_json({"op": 10, "d": {"heartbeat_interval": 45000}})
        async for frame in socket:
            if frame.type != WSMsgType.TEXT:
                break
            payload = json.loads(frame.data)
            if payload["op"] == 2:
                self._socket = socket
                await socket.send_json({"op": 0, "t": "READY", "s": 1, "d": {
                    "v": 10, "user": BOT_USER, "guilds": [], "session_id": "fake-session",
                    "resume_gateway_url": self.gateway_url, "application": {"id": APPLICATION_ID, "flags": 0},
                }})
            elif payload["op"] == 1:
                await socket.send_json({"op": 11})
        return socket

    # What a test does ---------------------------------------------------------------------

    def wait_until_connected(self) -> None:
        wait_until(lambda: self._socket is not None and self.synced_commands, 45, message="the bot on the gateway")

    def run_command(self, subcommand: str, user_id: str, manage_channels: bool = False,
                    bot_permissions: int = VIEW_CHANNEL | SEND_MESSAGES, **options) -> dict:
        """A member types /soonish <subcommand> in the test server; returns the bot's answer.
        ``bot_permissions`` are the bot's own in that channel (Discord's app_permissions)."""
        answered = len(self.followups)
        self._dispatch(self._interaction(2, subcommand, user_id, manage_channels, options, bot_permissions))
        wait_until(lambda: len(self.followups) > answered, 30, message=f"the bot's answer to {subcommand}")
        return self.followups[answered]

    def autocomplete(self, subcommand: str, user_id: str, option: str, typed: str) -> list[dict]:
        """A member types into an option of /soonish <subcommand>; returns the choices offered."""
        interaction = self._interaction(4, subcommand, user_id, False, {option: typed})
        interaction["data"]["options"][0]["options"][0]["focused"] = True
        offered = len(self.callbacks)
        self._dispatch(interaction)

        def choices():
            return next((c["data"]["choices"] for c in self.callbacks[offered:] if c["type"] == 8), None)

        wait_until(lambda: choices() is not None, 30, message="autocomplete choices")
        return choices()

    def press_button(self, custom_id: str, user_id: str, manage_channels: bool = False) -> dict:
        """A member presses a button under one of the bot's posts; returns the bot's answer."""
        interaction = self._interaction(3, "", user_id, manage_channels, {})
        interaction["data"] = {"custom_id": custom_id, "component_type": 2}
        interaction["message"] = {**self._message(CHANNEL, "a post"), "components": []}
        answered = len(self.followups)
        self._dispatch(interaction)
        wait_until(lambda: len(self.followups) > answered, 30, message=f"the bot's answer to {custom_id}")
        return self.followups[answered]

    def _dispatch(self, interaction: dict, kind: str = "INTERACTION_CREATE") -> None:
        event = {"op": 0, "t": kind, "s": next(self._sequence), "d": interaction}
        self._server.run(self._socket.send_json(event))

    def add_to_server(self, guild: str = GUILD, name: str = "Test server") -> None:
        """Someone adds the bot to a server: GUILD_CREATE, with the server's one text channel."""
        self._dispatch({
            "id": guild, "name": name, "icon": None, "owner_id": "1", "afk_timeout": 300, "verification_level": 0,
            "default_message_notifications": 0, "explicit_content_filter": 0, "features": [], "mfa_level": 0,
            "system_channel_flags": 0, "premium_tier": 0, "nsfw_level": 0, "preferred_locale": "en-US",
            "roles": [{"id": guild, "name": "@everyone", "permissions": "0", "position": 0, "color": 0,
                       "hoist": False, "managed": False, "mentionable": False, "flags": 0}],
            "emojis": [], "stickers": [], "member_count": 2, "large": False, "unavailable": False,
            "joined_at": "2024-01-01T00:00:00+00:00", "members": [], "voice_states": [], "presences": [],
            "threads": [], "stage_instances": [], "guild_scheduled_events": [], "soundboard_sounds": [],
            "channels": [{"id": CHANNEL, "type": 0, "guild_id": guild, "name": "general", "position": 0,
                          "permission_overwrites": []}],
        }, "GUILD_CREATE")

    def remove_from_server(self, guild: str = GUILD) -> None:
        """The bot is removed from a server (GUILD_DELETE without ``unavailable``: not an outage)."""
        self._dispatch({"id": guild}, "GUILD_DELETE")

    def _interaction(self, kind: int, subcommand: str, user_id: str, manage_channels: bool, options: dict,
                     bot_permissions: int = VIEW_CHANNEL | SEND_MESSAGES) -> dict:
        return {
            "id": str(next(self._ids)), "application_id": APPLICATION_ID, "type": kind, "token": f"tok{next(self._ids)}",
            "version": 1, "guild_id": GUILD, "channel_id": CHANNEL, "locale": "en-US", "guild_locale": "en-US",
            "app_permissions": str(bot_permissions), "attachment_size_limit": 8388608, "entitlements": [],
            "authorizing_integration_owners": {"0": GUILD}, "context": 0,
            "channel": {"id": CHANNEL, "type": 0, "guild_id": GUILD, "name": "general", "position": 0,
                        "permission_overwrites": []},
            "member": {"user": {"id": user_id, "username": f"user{user_id[-3:]}", "discriminator": "0",
                                "avatar": None, "global_name": None},
                       "roles": [], "joined_at": "2024-01-01T00:00:00+00:00", "deaf": False, "mute": False,
                       "flags": 0, "permissions": str(1 << 4 if manage_channels else 0)},
            "data": {"id": "1", "name": "soonish", "type": 1, "options": [{
                "name": subcommand, "type": 1,
                "options": [{"name": k, "type": 5 if isinstance(v, bool) else 3, "value": v} for k, v in options.items()],
            }]},
        }

    def dms_to(self, user_id: str) -> list[str]:
        with self._lock:
            channel = self.dm_channels.get(user_id)
            return [m["content"] for m in self.messages if m["channel_id"] == channel]


def ledger_for(app, target: str) -> list[tuple[str, str]]:
    """(channel, status) of each ledger row for ``target``, oldest first."""
    with app.app_context():
        rows = db.session.query(Delivery).filter_by(target=target).order_by(Delivery.id)
        return [(d.channel, d.status.value) for d in rows]
