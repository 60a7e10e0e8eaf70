"""The signed-in person's account page."""
from flask import Blueprint
from flask_login import login_required

from soonish.web.account_settings import account_forms, render_account

bp = Blueprint("account", __name__)


@bp.get("/account")
@login_required
def show():
    return render_account(**account_forms())
