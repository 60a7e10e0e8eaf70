"""My channels: the integrations (Apprise URLs, other email addresses) a user's messages can go
to, and the chat accounts (Slack, Discord) whose DMs act as channels."""
import segno
from flask import Blueprint, Response, abort, flash, redirect, render_template, request, session, url_for
from flask_login import current_user, login_required
from flask_wtf import FlaskForm
from wtforms import StringField
from wtforms.validators import DataRequired, Length

from soonish.domain.chat_markup import ChatPlatform
from soonish.i18n import _, _l
from soonish.services import channel_types, chat, chat_installations
from soonish.services import integrations as integration_service
from soonish.web.actions import Action, add_actions
from soonish.web.errors import link_page, refusal_flashed, refusal_kept
from soonish.web.htmx import is_htmx_request, render_page

bp = Blueprint("channels", __name__, url_prefix="/channels")
# An ntfy channel just added: its subscribe link is shown (with a QR code) once, on the next page.
SUBSCRIBE_LINK = "channels.subscribe_link"


class ChannelForm(FlaskForm):
    name = StringField(_l("Name"), validators=[
        DataRequired(_l("Name this channel, e.g. Phone.")), Length(max=80, message=_l("Keep the name under 80 characters.")),
    ])
    # Its length and port are the service's checks, shown beside the field like any other.
    url = StringField(_l("Apprise URL"), validators=[DataRequired(_l("Paste the channel's Apprise URL."))],
                      description=_l("e.g. ntfy://my-topic, discord://webhook_id/token, tgram://bot_token/chat_id"))
    tag = StringField(_l("Tag"), validators=[Length(max=40, message=_l("Keep the tag under 40 characters."))],
                      description=_l("Optional, one word like urgent: follow an event by tag to reach every channel carrying it."))


@bp.route("", methods=["GET", "POST"])
@login_required
def index():
    form = ChannelForm()
    if form.validate_on_submit():
        with refusal_kept(form):
            integration = integration_service.add_integration(current_user, form.name.data, form.url.data, form.tag.data)
            flash(_("Channel “%(name)s” added. Send it a test to be sure.", name=integration.name), "success")
            return redirect(url_for("channels.index"))
    link = session.pop(SUBSCRIBE_LINK, None)
    return render_template(
        "channels/index.html", form=form, integrations=integration_service.list_integrations(current_user),
        chat_accounts=chat.linked_identities(current_user), platforms=chat.configured_platforms(),
        workspaces=chat_installations.added_by(current_user),
        catalogue=channel_types.TYPES, subscribe_link=link,
        subscribe_qr=segno.make(link, error="m").svg_inline(scale=4, title="Scan with your phone") if link else None,
    ), 422 if form.errors else 200


class TypedChannelForm(FlaskForm):
    """A catalogue type's form: its own fields come from the catalogue (see typed() below)."""

    name = StringField(_l("Name"), validators=[Length(max=80, message=_l("Keep the name under 80 characters."))],
                       description=_l("Optional; shown in your list of channels."))
    tag = ChannelForm.tag


@bp.route("/new/<channel_type>", methods=["GET", "POST"])
@login_required
def typed(channel_type):
    """One catalogue type's small form: the server builds the Apprise URL and sends a test; the
    channel is saved only if the test went through (else the form says why, as typed)."""
    spec = channel_types.BY_KEY.get(channel_type)
    if spec is None:
        abort(404)
    form = TypedChannelForm()
    values = {f.name: request.form.get(f.name, f.default) for f in spec.fields}
    with refusal_kept(form) as refusal:
        if form.validate_on_submit():
            integration = integration_service.add_typed_integration(
                current_user, spec.key, values, form.name.data, form.tag.data, test_first=True)
            if integration.awaiting_verification:
                flash(_("Channel “%(name)s” added. We've mailed a link to %(email)s: it gets nothing until the link is "
                        "opened there.", name=integration.name, email=integration.email_address), "success")
                return redirect(url_for("channels.index", _anchor=f"channel-{integration.id}"))
            _report_test(integration, None)  # saved: its test went through
            link = channel_types.subscribe_link(spec.key, values)
            if link:
                session[SUBSCRIBE_LINK] = link
            return redirect(url_for("channels.index", _anchor=f"channel-{integration.id}"))
    # The catalogue type's own fields (``fields.<name>`` in the service's errors), beside each input.
    errors = {name.removeprefix("fields."): messages for name, messages in refusal.fields.items()}
    status = 422 if (errors or form.errors) else 200
    return render_template("channels/typed.html", spec=spec, form=form, values=values, errors=errors), status


@bp.post("/<int:integration_id>/test")
@login_required
def test(integration_id):
    _report_test(None, integration_service.send_test(current_user, integration_id))
    return redirect(url_for("channels.index"))


def _report_test(added, error: str | None) -> None:
    if error is None:
        flash(_("Channel “%(name)s” added. Test message sent. Check that it arrived.", name=added.name) if added
              else _("Test message sent. Check that it arrived."), "success")
    else:
        flash(_("Channel “%(name)s” added. The test didn't go through: %(error)s", name=added.name, error=error) if added
              else _("The test didn't go through: %(error)s", error=error), "error")


@bp.post("/<int:integration_id>/toggle")
@login_required
def toggle(integration_id):
    integration = integration_service.get_integration(current_user, integration_id)
    integration_service.update_integration(current_user, integration_id, {"is_active": not integration.is_active})
    return redirect(url_for("channels.index"))


@bp.post("/<int:integration_id>/resend")
@login_required
def resend(integration_id):
    """Mail an email channel's verification link again (spaced: see resend_verification)."""
    with refusal_flashed():  # too soon, or needs no link; someone else's channel is missing (404)
        integration = integration_service.resend_verification(current_user, integration_id)
        flash(_("We've mailed a new link to %(email)s.", email=integration.email_address), "success")
    return redirect(url_for("channels.index", _anchor=f"channel-{integration_id}"))


@bp.route("/verify/<token>", methods=["GET", "POST"])
@link_page
def verify(token):
    """An email channel's verification link, opened by whoever reads that address (signed in or
    not). Opening it only asks (mail scanners open links); the button verifies."""
    verification = integration_service.channel_verification(token)
    form = FlaskForm()
    if not verification.done and form.validate_on_submit():
        integration_service.verify_email_channel(token)
        verification.done = True
        return render_template("channels/verify.html", verification=verification, form=form, just_verified=True)
    return render_template("channels/verify.html", verification=verification, form=form, just_verified=False)


# Chat accounts ------------------------------------------------------------------------------


def _platform(name: str) -> ChatPlatform:
    if name not in {p.value for p in chat.configured_platforms()}:
        abort(404)
    return ChatPlatform(name)


@bp.post("/connect/<platform>")
@login_required
def connect(platform):
    """A one-time code to type in the platform's chat: typing it joins that chat account."""
    code = chat.new_connect_code(current_user, _platform(platform))
    return render_template("channels/connect.html", code=code, platform=code.platform, connected=False, accounts=[])


@bp.get("/connect/<platform>/status")
@login_required
def connect_status(platform):
    """Polled by the connect page until the code was typed: "no change" (204, which htmx leaves
    alone, so a screen reader isn't told the same thing every few seconds) until then."""
    platform = _platform(platform)
    connected = chat.connect_code_used(current_user, platform)
    if not connected and is_htmx_request():
        return Response(status=204)
    accounts = [i for i in chat.linked_identities(current_user) if i.platform == platform] if connected else []
    return render_page("channels/connect.html", "channels/_connect_status.html",
                       code=None, platform=platform, connected=connected, accounts=accounts)


@bp.get("/slack/<int:installation_id>")
@login_required
def slack_workspace(installation_id):
    """A workspace's page, for who added Soonish there and its admins: what its channels
    follow, who linked an account, and the uninstall button."""
    overview = chat_installations.overview(current_user, installation_id)
    return render_template("channels/workspace.html", overview=overview, form=FlaskForm())


add_actions(
    bp,
    Action("/<int:integration_id>/delete", "delete", integration_service.delete_integration,
           lambda removed: _("Channel removed."), "channels.index"),
    Action("/chat/<int:identity_id>/remove", "remove_chat_account", chat.unlink,
           lambda removed: _("Chat account removed: its DMs get nothing more from this account."), "channels.index"),
    Action("/slack/<int:installation_id>/uninstall", "uninstall_slack", chat_installations.uninstall,
           lambda installation: _("Soonish was removed from %(workspace)s.",
                                  workspace=installation.workspace_name or installation.workspace_id),
           "channels.slack_workspace"),
)

