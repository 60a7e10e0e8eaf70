"""Sign in with Slack / Sign in with Discord: to the platform's consent page and back."""
from flask import Blueprint, abort, current_app, redirect, render_template, request, session, url_for
from flask_login import login_user

from soonish.domain.chat_markup import ChatPlatform
from soonish.i18n import _
from soonish.links import public_url
from soonish.services import chat_signin

bp = Blueprint("chat_signin", __name__)
# The state of the flow this browser began: a callback carrying any other is refused.
SESSION_STATE = "chat_signin_state"
PLATFORMS = {p.value for p in ChatPlatform}


def _redirect_uri(platform: str) -> str:
    """Fixed by configuration (the platform checks it against the app's registered ones)."""
    return public_url(current_app.config["PUBLIC_URL"], f"/login/{platform}/callback")


def _platform_or_404(platform: str) -> str:
    if platform not in PLATFORMS or not chat_signin.available(platform):
        abort(404)
    return platform


@bp.get("/login/<platform>")
def start(platform):
    platform = _platform_or_404(platform)
    url, state = chat_signin.begin(platform, _redirect_uri(platform))
    session[SESSION_STATE] = state
    return redirect(url)


@bp.get("/login/<platform>/callback")
def callback(platform):
    platform = _platform_or_404(platform)
    state = request.args.get("state")
    name = ChatPlatform(platform).display_name
    if not state or state != session.pop(SESSION_STATE, None):
        outcome = chat_signin.SignIn(problem=_("This sign-in was started in another browser, or has expired."))
    else:
        outcome = chat_signin.finish(platform, state, request.args.get("code"), _redirect_uri(platform))
    if outcome.user is not None:
        login_user(outcome.user)
        return redirect(url_for("events.dashboard"))
    status = 200 if outcome.mailed_to else 400
    return render_template("auth/chat_signin.html", platform=platform, name=name, outcome=outcome), status
