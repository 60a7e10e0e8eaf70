"""Chat on the web: Slack's request URL, and the page a chat account's link mail opens."""
import threading

from flask import Blueprint, abort, current_app, flash, has_request_context, render_template, request, url_for
from flask_login import current_user
from flask_wtf import FlaskForm

from soonish.domain.chat_markup import PLATFORM_NAMES
from soonish.config import slack_installs_per_workspace, slack_runs
from soonish.i18n import _, _l
from soonish.services import chat
from soonish.web.auth import csrf_exempt
from soonish.web.errors import link_page

bp = Blueprint("chat", __name__)
_slack_lock = threading.Lock()


def slack_handler():
    """The Slack app for this Flask app, made on first use; None when Slack isn't configured."""
    config = current_app.config
    if not (slack_runs(config) and config["SLACK_SIGNING_SECRET"]):
        return None
    extensions = current_app.extensions
    with _slack_lock:
        if "soonish.slack" not in extensions:
            # Imported here: an install without Slack never loads bolt.
            from slack_bolt.adapter.flask import SlackRequestHandler
            from slack_bolt.oauth.callback_options import CallbackOptions

            from soonish.bots.slack import build_app

            app = build_app(current_app._get_current_object(), installer=_signed_in_account,
                            pages=CallbackOptions(success=_installed, failure=_install_failed))
            extensions["soonish.slack"] = SlackRequestHandler(app)
    return extensions["soonish.slack"]


def _signed_in_account() -> int | None:
    """Who presses "Add to Slack" (and comes back from Slack): kept with the installation."""
    return current_user.id if has_request_context() and current_user.is_authenticated else None


# What went wrong, in the words of the page that offers a fresh start (bolt's failure reasons;
# any other is Slack's own error, e.g. access_denied when the person pressed Cancel).
INSTALL_PROBLEMS = {
    "invalid_browser": _l("This install was started in another browser (or its cookie expired)."),
    "invalid_state": _l("This install link was already used, has expired, or was never ours."),
    "missing_code": _l("Slack sent no authorization code back."),
    "invalid_code": _l("Slack refused the authorization code: nothing was installed."),
    "storage_error": _l("We couldn't save the installation."),
    "access_denied": _l("The install was cancelled in Slack."),
}


def _installed(args):
    from slack_bolt import BoltResponse

    installation = args.installation
    name = (installation.enterprise_name if installation.is_enterprise_install else installation.team_name) or "Slack"
    flash(_("Soonish is now in %(workspace)s. Type /soonish help there to start.", workspace=name), "success")
    return BoltResponse(status=303, body="", headers={
        "Location": url_for("channels.index"), "Set-Cookie": [args.settings.state_utils.build_set_cookie_for_deletion()]})


def _install_failed(args):
    from slack_bolt import BoltResponse

    problem = INSTALL_PROBLEMS.get(args.reason) or _("Slack answered: %(reason)s.", reason=str(args.reason)[:100])
    current_app.logger.info("Slack install failed: %s", args.reason)
    status = args.suggested_status_code if args.suggested_status_code >= 400 else 400
    page = render_template("chat/install_problem.html", problem=problem, platform="Slack",
                           restart_url=url_for("chat.slack_install"))
    return BoltResponse(status=status, body=page, headers={
        "Content-Type": "text/html; charset=utf-8",
        "Set-Cookie": [args.settings.state_utils.build_set_cookie_for_deletion()]})


def _slack_or_404():
    handler = slack_handler()
    if handler is None:
        abort(404)
    return handler


@bp.post("/slack/events")
@csrf_exempt  # Slack signs its requests; bolt checks the signature and its timestamp
def slack_events():
    return _slack_or_404().handle(request)


@bp.get("/slack/install")
def slack_install():
    """"Add to Slack": to Slack's consent page with a new single-use state (and its cookie)."""
    if not slack_installs_per_workspace(current_app.config):
        abort(404)
    return _slack_or_404().handle(request)


@bp.get("/slack/oauth_redirect")
def slack_oauth_redirect():
    """Back from Slack: the state checked and consumed, the code exchanged, the install kept."""
    if not slack_installs_per_workspace(current_app.config):
        abort(404)
    return _slack_or_404().handle(request)


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
