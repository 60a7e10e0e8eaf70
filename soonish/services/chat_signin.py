"""Sign in with Slack (its OpenID Connect) and with Discord (OAuth2 ``identify email``): one step
creates or signs into the Soonish account and links the chat identity. An account that already
has the same email is joined only once the person proves it is theirs (the link mailed to it,
as `link <email>` in chat does), never silently.

Each flow's ``state`` is kept server-side (hashed) and consumed once; the web view also binds
it to the browser's session. Tokens from the platform are used for one profile call and
dropped: nothing of them is stored or logged."""
import base64
import json
import logging
import urllib.error
import urllib.request
from dataclasses import dataclass
from urllib.parse import urlencode

from flask import current_app
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from soonish.domain.chat_markup import ChatPlatform
from soonish.domain import chat_installations as installations
from soonish.models import User, db
from soonish.services import chat
from soonish.services.accounts import find_user_by_email, normalize_email
from soonish.services.errors import ValidationFailed

log = logging.getLogger(__name__)

STATE_SECONDS = 600
SLACK_SCOPES = "openid email profile"
DISCORD_SCOPES = "identify email"
HTTP_TIMEOUT_SECONDS = 10


@dataclass(frozen=True)
class ChatProfile:
    """Who the platform says signed in."""

    platform: str
    workspace_id: str  # Slack team id; "" for Discord (its ids are global)
    user_id: str
    name: str
    email: str | None
    email_verified: bool
    workspace_name: str = ""


@dataclass(frozen=True)
class SignIn:
    """How a sign-in ended: signed in as ``user``; or a link mailed to ``mailed_to`` (an account
    with that email exists and must be proven first); or refused with ``problem``."""

    user: User | None = None
    mailed_to: str | None = None
    problem: str | None = None


def available(platform: str) -> bool:
    config = current_app.config
    if platform == ChatPlatform.SLACK.value:
        return bool(config["SLACK_CLIENT_ID"] and config["SLACK_CLIENT_SECRET"])
    if platform == ChatPlatform.DISCORD.value:
        return bool(config["DISCORD_CLIENT_ID"] and config["DISCORD_CLIENT_SECRET"])
    return False


def begin(platform: str, redirect_uri: str) -> tuple[str, str]:
    """The platform's consent page address and the flow's new state."""
    config = current_app.config
    state = installations.issue_state(f"{platform}_signin", STATE_SECONDS)
    db.session.commit()
    if platform == ChatPlatform.SLACK.value:
        query = {"response_type": "code", "scope": SLACK_SCOPES, "client_id": config["SLACK_CLIENT_ID"],
                 "state": state, "redirect_uri": redirect_uri}
        return f"{config['SLACK_OIDC_AUTHORIZE_URL']}?{urlencode(query)}", state
    query = {"response_type": "code", "scope": DISCORD_SCOPES, "client_id": config["DISCORD_CLIENT_ID"],
             "state": state, "redirect_uri": redirect_uri, "prompt": "none"}
    return f"{config['DISCORD_OAUTH_AUTHORIZE_URL']}?{urlencode(query)}", state


def finish(platform: str, state: str | None, code: str | None, redirect_uri: str) -> SignIn:
    """Back from the platform: the state consumed, the code exchanged, the account signed in."""
    consumed = installations.consume_state(state, f"{platform}_signin")
    db.session.commit()
    if consumed is None:
        return SignIn(problem="This sign-in link was already used, has expired, or was never ours.")
    if not code:
        return SignIn(problem="The sign-in was cancelled.")
    profile = (_slack_profile if platform == ChatPlatform.SLACK.value else _discord_profile)(code, redirect_uri)
    if profile is None:
        name = ChatPlatform(platform).display_name
        return SignIn(problem=f"{name} didn't confirm who you are; nothing was changed.")
    return sign_in(profile)


def sign_in(profile: ChatProfile) -> SignIn:
    identity = chat.identity_for(profile.platform, profile.workspace_id, profile.user_id,
                                 display_name=profile.name, workspace_name=profile.workspace_name)
    user = identity.user
    if user.email is not None:
        return SignIn(user=user)  # linked before: this is their account
    platform = ChatPlatform(profile.platform).display_name
    if not (profile.email and profile.email_verified):
        return SignIn(problem=f"Your {platform} account has no verified email address; verify it there, "
                              f"or sign up with your email here.")
    try:
        address = normalize_email(profile.email)
    except ValidationFailed:
        return SignIn(problem=f"{platform} gave an email address we can't use.")
    if find_user_by_email(address) is not None:
        # Someone has an account with this address: join only once they prove it is theirs.
        chat.request_link(identity, address)
        return SignIn(mailed_to=address)
    user.email = address
    user.is_verified = True  # the platform verified it
    db.session.commit()
    log.info("account made by signing in with %s", platform, extra={"user_id": user.id})
    return SignIn(user=user)


def _slack_profile(code: str, redirect_uri: str) -> ChatProfile | None:
    config = current_app.config
    client = WebClient(base_url=config["SLACK_API_URL"], timeout=HTTP_TIMEOUT_SECONDS)
    try:
        tokens = client.openid_connect_token(client_id=config["SLACK_CLIENT_ID"],
                                             client_secret=config["SLACK_CLIENT_SECRET"],
                                             code=code, redirect_uri=redirect_uri)
        info = client.openid_connect_userInfo(token=tokens["access_token"])
    except (SlackApiError, OSError) as exc:
        log.warning("Sign in with Slack refused: %s",
                    exc.response.get("error") if isinstance(exc, SlackApiError) else type(exc).__name__)
        return None
    return ChatProfile(
        platform=ChatPlatform.SLACK.value, workspace_id=info.get("https://slack.com/team_id", ""),
        user_id=info.get("https://slack.com/user_id") or info.get("sub", ""), name=info.get("name", ""),
        email=info.get("email"), email_verified=bool(info.get("email_verified")),
        workspace_name=info.get("https://slack.com/team_name", ""),
    )


def _discord_profile(code: str, redirect_uri: str) -> ChatProfile | None:
    config = current_app.config
    root = config["DISCORD_API_URL"].rstrip("/")
    credentials = base64.b64encode(f"{config['DISCORD_CLIENT_ID']}:{config['DISCORD_CLIENT_SECRET']}".encode()).decode()
    try:
        tokens = _json(urllib.request.Request(
            f"{root}/oauth2/token", method="POST",
            data=urlencode({"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri}).encode(),
            headers={"Authorization": f"Basic {credentials}", "Content-Type": "application/x-www-form-urlencoded"}))
        me = _json(urllib.request.Request(f"{root}/users/@me",
                                          headers={"Authorization": f"Bearer {tokens['access_token']}"}))
    except (urllib.error.URLError, OSError, KeyError, ValueError) as exc:
        log.warning("Sign in with Discord refused: %s", type(exc).__name__)
        return None
    return ChatProfile(platform=ChatPlatform.DISCORD.value, workspace_id="", user_id=str(me["id"]),
                       name=me.get("global_name") or me.get("username", ""), email=me.get("email"),
                       email_verified=bool(me.get("verified")))


def _json(request: urllib.request.Request) -> dict:
    request.add_header("User-Agent", "Soonish")
    with urllib.request.urlopen(request, timeout=HTTP_TIMEOUT_SECONDS) as response:
        body = json.loads(response.read())
    if not isinstance(body, dict):
        raise ValueError("not an object")
    return body
