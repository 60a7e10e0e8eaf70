"""The signed-in person's account page."""
from flask import Blueprint, render_template
from flask_login import current_user, login_required

from .calendar import feed_url

bp = Blueprint("account", __name__)


@bp.get("/account")
@login_required
def show():
    from .account_settings import account_forms

    return render_account(**account_forms())


def render_account(status: int = 200, **forms):
    token = current_user.calendar_token
    return render_template("account/show.html", feed_url=feed_url(token) if token else None, **forms), status
