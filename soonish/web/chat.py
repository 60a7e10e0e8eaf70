"""Chat on the web: Slack's request URL, and the page a chat account's link mail opens."""
import threading

from flask import Blueprint, abort, current_app, render_template, request
from flask_wtf import FlaskForm

from soonish.domain.chat_markup import PLATFORM_NAMES
from soonish.services import chat
from soonish.web.auth import csrf_exempt
from soonish.web.errors import link_page

bp = Blueprint("chat", __name__)
_slack_lock = threading.Lock()


def slack_handler():
    """The Slack app for this Flask app, made on first use; None when Slack isn't configured."""
    config = current_app.config
    if not (config["SLACK_BOT_TOKEN"] and config["SLACK_SIGNING_SECRET"]):
        return None
    extensions = current_app.extensions
    with _slack_lock:
        if "soonish.slack" not in extensions:
            # Imported here: an install without Slack never loads bolt.
            from slack_bolt.adapter.flask import SlackRequestHandler

            from soonish.bots.slack import build_app

            extensions["soonish.slack"] = SlackRequestHandler(build_app(current_app._get_current_object()))
    return extensions["soonish.slack"]


@bp.post("/slack/events")
@csrf_exempt  # Slack signs its requests; bolt checks the signature and its timestamp
def slack_events():
    handler = slack_handler()
    if handler is None:
        abort(404)
    return handler.handle(request)


@bp.route("/link/<token>", methods=["GET", "POST"])
@link_page
def link(token):
    """Join a chat account with an email's account. Opening the link only asks (mail scanners
    open links); the button does it."""
    pending = chat.link_request(token)
    platform = PLATFORM_NAMES[pending.identity.platform]
    form = FlaskForm()
    if form.validate_on_submit():
        account = chat.complete_link(token)
        return render_template("chat/linked.html", platform=platform, account=account)
    return render_template("chat/link.html", form=form, platform=platform, email=pending.email)
