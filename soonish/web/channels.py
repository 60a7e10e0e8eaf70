"""My channels: the integrations (Apprise URLs) a user's messages can go to."""
from flask import Blueprint, abort, flash, redirect, render_template, url_for
from flask_login import current_user, login_required
from flask_wtf import FlaskForm
from wtforms import StringField
from wtforms.validators import DataRequired, Length

from ..services import ServiceError
from ..services import integrations as integration_service
from .forms import apply_service_error

bp = Blueprint("channels", __name__, url_prefix="/channels")


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
    return render_template(
        "channels/index.html", form=form, integrations=integration_service.list_integrations(current_user)
    ), 422 if form.errors else 200


@bp.post("/<int:integration_id>/test")
@login_required
def test(integration_id):
    error = _call(integration_service.send_test, integration_id)
    if error is None:
        flash("Test message sent. Check that it arrived.", "success")
    else:
        flash(f"The test didn't go through: {error}", "error")
    return redirect(url_for("channels.index"))


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
