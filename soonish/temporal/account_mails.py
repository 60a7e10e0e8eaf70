"""The account mails of the transactional mail workflow: password reset, email change (to the
new address), its notice with an undo link (to the old one), and the delete-account link.

Each builder reads the database at send time and signs its link then, so a link carries the
account's current token epoch (a link works once, and not after "sign out everywhere").
"""
from dataclasses import dataclass

from flask import Flask
from sqlalchemy import select

from ..links import (
    LinkPurpose, change_email_path, delete_account_path, public_url, reset_password_path, sign,
    undo_email_change_path,
)
from ..models import User, db
from .shared import TransactionalMail


@dataclass
class AccountMail:
    address: str
    key: str  # stable per mail, for its Message-ID
    template: str
    title: str
    context: dict


def account_mail(app: Flask, request: TransactionalMail) -> AccountMail | None:
    """The mail ``request`` asks for, or None when there is nobody (left) to send it to."""
    secret = app.config["SECRET_KEY"]

    def url(path: str) -> str:
        return public_url(app.config["PUBLIC_URL"], path)

    if request.kind == "reset":
        # Looked up here, not by the caller: the web answer is the same whether or not it exists.
        user = db.session.scalar(select(User).where(User.email == request.address))
        if user is None or user.password_hash is None or user.erased_at is not None:
            return None
        link = url(reset_password_path(sign(secret, LinkPurpose.RESET_PASSWORD, [user.id, user.token_epoch])))
        return AccountMail(user.email, f"reset-{user.id}", "reset_password", "Reset your Soonish password",
                           dict(reset_url=link, hours=app.config["ACCOUNT_LINK_MAX_AGE"] // 3600 or 1))
    user = db.session.get(User, request.subject_id)
    if user is None or user.erased_at is not None or not user.email:
        return None
    if request.kind == "email_change":
        link = url(change_email_path(sign(secret, LinkPurpose.CHANGE_EMAIL, [user.id, user.email, request.address])))
        return AccountMail(request.address, f"email-change-{user.id}", "change_email",
                           "Confirm your new email for Soonish", dict(confirm_url=link, old=user.email, new=request.address))
    if request.kind == "email_changed":
        link = url(undo_email_change_path(sign(secret, LinkPurpose.UNDO_EMAIL_CHANGE, [user.id, request.address, user.email])))
        return AccountMail(request.address, f"email-changed-{user.id}", "email_changed",
                           "Your Soonish email address was changed", dict(undo_url=link, old=request.address, new=user.email))
    if request.kind == "delete_account":
        link = url(delete_account_path(sign(secret, LinkPurpose.DELETE_ACCOUNT, [user.id, user.token_epoch])))
        return AccountMail(user.email, f"delete-{user.id}", "delete_account", "Confirm: delete your Soonish account",
                           dict(delete_url=link, hours=app.config["ACCOUNT_LINK_MAX_AGE"] // 3600 or 1))
    return None


ACCOUNT_MAIL_KINDS = {"reset", "email_change", "email_changed", "delete_account"}
