"""My channels: the integrations (Apprise URLs) a user's messages can go to."""
import segno
from flask import Blueprint, abort, flash, redirect, render_template, request, session, url_for
from flask_login import current_user, login_required
from flask_wtf import FlaskForm
from wtforms import StringField
from wtforms.validators import DataRequired, Length

from ..services import ServiceError
from ..services import channel_types
from ..services import integrations as integration_service
from .forms import apply_service_error

bp = Blueprint("channels", __name__, url_prefix="/channels")
# An ntfy channel just added: its subscribe link is shown (with a QR code) once, on the next page.
SUBSCRIBE_LINK = "channels.subscribe_link"


class ChannelForm(FlaskForm):
    name = StringField("Name", validators=[
        DataRequired("Name this channel, e.g. Phone."), Length(max=80, message="Keep the name under 80 characters."),
    ])
    # Its length and port are the service's checks, shown beside the field like any other.
    url = StringField("Apprise URL", validators=[DataRequired("Paste the channel's Apprise URL.")],
                      description="e.g. ntfy://my-topic, discord://webhook_id/token, tgram://bot_token/chat_id")
    tag = StringField("Tag", validators=[Length(max=40, message="Keep the tag under 40 characters.")],
                      description="Optional, one word like urgent: follow an event by tag to reach every channel carrying it.")


@bp.route("", methods=["GET", "POST"])
@login_required
def index():
    form = ChannelForm()
    if form.validate_on_submit():
        try:
            integration = integration_service.add_integration(current_user, form.name.data, form.url.data, form.tag.data)
        except ServiceError as exc:
            apply_service_error(form, exc)
        else:
            flash(f"Channel “{integration.name}” added. Send it a test to be sure.", "success")
            return redirect(url_for("channels.index"))
    link = session.pop(SUBSCRIBE_LINK, None)
    return render_template(
        "channels/index.html", form=form, integrations=integration_service.list_integrations(current_user),
        catalogue=channel_types.CATALOGUE, subscribe_link=link,
        subscribe_qr=segno.make(link, error="m").svg_inline(scale=4, title="Scan with your phone") if link else None,
    ), 422 if form.errors else 200


class TypedChannelForm(FlaskForm):
    """A catalogue type's form: its own fields come from the catalogue (see typed() below)."""

    name = StringField("Name", validators=[Length(max=80, message="Keep the name under 80 characters.")],
                       description="Optional; shown in your list of channels.")
    tag = ChannelForm.tag


@bp.route("/new/<channel_type>", methods=["GET", "POST"])
@login_required
def typed(channel_type):
    """One catalogue type's small form: the server builds the Apprise URL, then sends a test."""
    spec = channel_types.BY_KEY.get(channel_type)
    if spec is None:
        abort(404)
    form = TypedChannelForm()
    values = {f.name: request.form.get(f.name, f.default) for f in spec.fields}
    errors: dict[str, list[str]] = {}
    if form.validate_on_submit():
        try:
            integration = integration_service.add_typed_integration(
                current_user, spec.key, values, form.name.data, form.tag.data)
        except ServiceError as exc:
            errors = {name.removeprefix("fields."): messages for name, messages in exc.fields.items()}
            apply_service_error(form, exc)
        else:
            _report_test(integration, _call(integration_service.send_test, integration.id))
            link = channel_types.subscribe_link(spec.key, values)
            if link:
                session[SUBSCRIBE_LINK] = link
            return redirect(url_for("channels.index", _anchor=f"channel-{integration.id}"))
    status = 422 if (errors or form.errors) else 200
    return render_template("channels/typed.html", spec=spec, form=form, values=values, errors=errors), status


@bp.post("/<int:integration_id>/test")
@login_required
def test(integration_id):
    _report_test(None, _call(integration_service.send_test, integration_id))
    return redirect(url_for("channels.index"))


def _report_test(added, error: str | None) -> None:
    prefix = f"Channel “{added.name}” added. " if added else ""
    if error is None:
        flash(f"{prefix}Test message sent. Check that it arrived.", "success")
    else:
        flash(f"{prefix}The test didn't go through: {error}", "error")


@bp.post("/<int:integration_id>/toggle")
@login_required
def toggle(integration_id):
    integration = _call(integration_service.get_integration, integration_id)
    _call(integration_service.update_integration, integration_id, {"is_active": not integration.is_active})
    return redirect(url_for("channels.index"))


@bp.post("/<int:integration_id>/delete")
@login_required
def delete(integration_id):
    _call(integration_service.delete_integration, integration_id)
    flash("Channel removed.", "info")
    return redirect(url_for("channels.index"))


def _call(operation, *args):
    try:
        return operation(current_user, *args)
    except ServiceError as exc:
        abort(exc.status)
