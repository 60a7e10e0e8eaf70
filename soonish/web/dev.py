"""Development only: the outbox, where mail lands when no SMTP server is configured."""
from email import policy
from email.parser import BytesParser
from pathlib import Path

from flask import Blueprint, abort, current_app, render_template

bp = Blueprint("dev", __name__, url_prefix="/dev")
OUTBOX_SHOWN = 50


@bp.before_request
def only_in_development():
    if not current_app.config["DEV"] or current_app.config["SMTP_HOST"]:
        abort(404)


@bp.get("/outbox")
def outbox():
    folder = Path(current_app.instance_path) / "outbox"
    files = sorted(folder.glob("*.eml"), key=lambda p: p.stat().st_mtime, reverse=True)[:OUTBOX_SHOWN]
    mails = []
    for path in files:
        mail = BytesParser(policy=policy.default).parsebytes(path.read_bytes())
        text = mail.get_body(preferencelist=("plain",))
        mails.append({"to": mail["To"], "subject": mail["Subject"], "date": mail["Date"],
                      "text": text.get_content() if text else ""})
    return render_template("dev/outbox.html", mails=mails)
