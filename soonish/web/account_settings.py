"""Accounts people can trust, as pages: forgot password, change password or email, sign out
everywhere, delete the account, download one's data, and "forget my address" for followers by
email. Each view calls one service operation (services.credentials, .erasure, .export)."""
import json
from collections.abc import Callable
from functools import wraps

from flask import Blueprint, Response, flash, redirect, render_template, url_for
from flask_babel import refresh
from flask_login import current_user, login_required, login_user, logout_user
from flask_wtf import FlaskForm
from wtforms import BooleanField, EmailField, PasswordField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Email, EqualTo, Length

from soonish import i18n
from soonish.i18n import _, _l
from soonish.field_limits import BIO_MAX, DISPLAY_NAME_MAX, PASSWORD_MAX
from soonish.services import accounts, credentials, erasure
from soonish.services.export import export_data
from soonish.web.auth import one_click_link
from soonish.web.calendar import feed_url
from soonish.web.errors import link_page, refusal_flashed, refusal_kept
from soonish.web.limits import lift_link_limit, password_reset_limit
from soonish.web.replicas import uses_primary

bp = Blueprint("account_settings", __name__)

NEW_PASSWORD_RULES = [DataRequired(), Length(min=accounts.MIN_PASSWORD_LENGTH, max=PASSWORD_MAX)]


class ForgotPasswordForm(FlaskForm):
    email = EmailField(_l("Email"), validators=[DataRequired(), Length(max=254), Email()])


class NewPasswordForm(FlaskForm):
    password = PasswordField(_l("New password"), validators=NEW_PASSWORD_RULES)
    confirm = PasswordField(_l("Repeat it"), validators=[EqualTo("password", _l("Passwords differ."))])


class ChangePasswordForm(NewPasswordForm):
    current_password = PasswordField(_l("Current password"), validators=[DataRequired()])


class ChangeEmailForm(FlaskForm):
    email = EmailField(_l("New email"), validators=[DataRequired(), Length(max=254), Email()])
    current_password = PasswordField(_l("Current password"), validators=[DataRequired()])


class EmailFallbackForm(FlaskForm):
    email_fallback = BooleanField(_l("When a Slack or Discord message can't reach me, email it to me instead"))


class LanguageForm(FlaskForm):
    # Each language in its own name; empty: the browser's choice (Accept-Language).
    locale = SelectField(_l("Language"), choices=[("", _l("As my browser asks"))] + list(i18n.LOCALE_NAMES.items()))


class ProfileForm(FlaskForm):
    display_name = StringField(_l("Your name"), validators=[Length(max=DISPLAY_NAME_MAX)])
    bio = TextAreaField(_l("About you"), description=_l("A line or two shown on your events and your host page."),
                        validators=[Length(max=BIO_MAX)], render_kw={"maxlength": BIO_MAX, "rows": 3})


class DeleteAccountForm(FlaskForm):
    password = PasswordField(_l("Your password"), validators=[DataRequired()])


def account_forms(**given) -> dict:
    """The account page's forms, blank unless a failed post hands one back with its errors."""
    forms = {
        "password_form": ChangePasswordForm(formdata=None, prefix="pw"),
        "email_form": ChangeEmailForm(formdata=None, prefix="em"),
        "delete_form": DeleteAccountForm(formdata=None, prefix="del"),
        "profile_form": ProfileForm(formdata=None, prefix="pr", data={"display_name": current_user.display_name,
                                                                        "bio": current_user.bio}),
        "fallback_form": EmailFallbackForm(formdata=None, prefix="fb", data={"email_fallback": current_user.email_fallback}),
        "language_form": LanguageForm(formdata=None, prefix="lang", data={"locale": current_user.locale or ""}),
    }
    forms.update(given)
    return forms


def render_account(status: int = 200, **forms):
    """The account page (calendar feed, then these settings) with ``forms``."""
    token = current_user.calendar_token
    return render_template("account/show.html", feed_url=feed_url(token) if token else None,
                           suppression=credentials.mail_suppression(current_user), **forms), status


def _account_page_with(**given):
    """The account page again, after a failed post, with that form's errors."""
    return render_account(status=422, **account_forms(**given))


# Forgot password -------------------------------------------------------------------------

@bp.route("/forgot-password", methods=["GET", "POST"])
@password_reset_limit()
def forgot_password():
    form = ForgotPasswordForm()
    if form.validate_on_submit():
        credentials.request_password_reset(form.email.data)
        # The same words whether or not the address has an account.
        flash(_("If that address has a Soonish account, a link to choose a new password is on its way. "
              "It works for an hour."), "info")
        return redirect(url_for("auth.login"))
    return render_template("account/forgot_password.html", form=form), 422 if form.errors else 200


@bp.route("/reset-password/<token>", methods=["GET", "POST"])
@link_page
def reset_password(token):
    user = credentials.user_for_reset(token)
    form = NewPasswordForm()
    if form.validate_on_submit():
        with refusal_kept(form):
            user = credentials.reset_password(token, form.password.data)
            login_user(user)
            flash(_("Your new password is set. Every other session is signed out."), "success")
            return redirect(url_for("events.dashboard"))
    return render_template("account/reset_password.html", form=form, user=user), 422 if form.errors else 200


# Password, email, sessions -----------------------------------------------------------------

def account_form(form_class: type[FlaskForm], prefix: str, kept_as: str, category: str = "success"):
    """The POST of one of the account page's forms (``kept_as`` in account_forms): the view
    saves the valid form and returns what to flash on the page it goes back to; an invalid or
    refused one shows the page again with its errors."""
    def decorate(save: Callable[[FlaskForm], str]):
        @wraps(save)
        @login_required
        def view():
            form = form_class(prefix=prefix)
            if form.validate_on_submit():
                with refusal_kept(form):
                    flash(save(form), category)
                    return redirect(url_for("account.show"))
            return _account_page_with(**{kept_as: form})
        return view
    return decorate


@bp.post("/account/password")
@account_form(ChangePasswordForm, "pw", "password_form")
def change_password(form):
    # The user itself, not the current_user proxy: login_user stores what it is given.
    user = credentials.change_password(current_user._get_current_object(), form.current_password.data,
                                       form.password.data)
    login_user(user)  # this session carries on under the new epoch
    return _("Password changed. Every other session is signed out.")


@bp.post("/account/profile")
@account_form(ProfileForm, "pr", "profile_form")
def set_profile(form):
    accounts.set_profile(current_user, form.display_name.data or "", form.bio.data or "")
    return _("Saved: your name and a few words show beside the events you host.")


@bp.post("/account/language")
@account_form(LanguageForm, "lang", "language_form")
def set_language(form):
    accounts.set_locale(current_user, form.locale.data)
    refresh()  # the saved language already speaks in the message below
    return _("Saved: Soonish speaks your language now.")


@bp.post("/account/email-fallback")
@account_form(EmailFallbackForm, "fb", "fallback_form")
def set_email_fallback(form):
    accounts.set_email_fallback(current_user, form.email_fallback.data)
    return (_("Saved: chat messages that can't reach you come by email instead.") if form.email_fallback.data
            else _("Saved: chat messages that can't reach you are not mailed."))


@bp.post("/account/email")
@account_form(ChangeEmailForm, "em", "email_form", category="info")
def change_email(form):
    address = credentials.request_email_change(current_user, form.email.data, form.current_password.data)
    return _("Almost done: open the link we sent to %(email)s to start using it.", email=address)


@bp.get("/account/email/confirm/<token>")
@uses_primary  # opening the link changes the address
@link_page
def confirm_email_change(token):
    user = credentials.confirm_email_change(token)
    flash(_("Your address is now %(email)s.", email=user.email), "success")
    return redirect(url_for("account.show" if current_user.is_authenticated else "auth.login"))


@bp.route("/account/email/undo/<token>", methods=["GET", "POST"])
@link_page
def undo_email_change(token):
    form = FlaskForm()
    if form.validate_on_submit():
        user = credentials.undo_email_change(token)
        logout_user()
        flash(_("Your address is %(email)s again and every session is signed out. "
                "If you didn't make that change, choose a new password now.", email=user.email), "success")
        return redirect(url_for("account_settings.forgot_password"))
    return render_template("account/undo_email_change.html", form=form)


@bp.post("/account/sign-out-everywhere")
@login_required
def sign_out_everywhere():
    credentials.revoke_sessions(current_user)
    logout_user()
    flash(_("You are signed out everywhere, and every API token you had stopped working."), "info")
    return redirect(url_for("auth.login"))


# Delete, export ----------------------------------------------------------------------------

@bp.post("/account/delete")
@login_required
def delete_account():
    form = DeleteAccountForm(prefix="del")
    if form.validate_on_submit():
        with refusal_kept(form):
            erasure.delete_account(current_user, form.password.data)
            return _deleted()
    return _account_page_with(delete_form=form)


@bp.post("/account/delete/email")
@login_required
def mail_deletion_link():
    with refusal_flashed():
        credentials.request_deletion_link(current_user)
        flash(_("We sent a link to %(email)s: open it to delete your account.", email=current_user.email), "info")
    return redirect(url_for("account.show"))


@bp.route("/account/delete/<token>", methods=["GET", "POST"])
@link_page
def delete_account_from_link(token):
    user = credentials.user_for_deletion_link(token)
    form = FlaskForm()
    if form.validate_on_submit():
        erasure.delete_account_from_link(token)
        return _deleted()
    return render_template("account/delete_confirm.html", form=form, user=user)


@bp.post("/account/mail/lift")
@login_required
@lift_link_limit()
def mail_lift_link():
    with refusal_flashed():
        credentials.request_lift_link(current_user)
        flash(_("We sent a link to %(email)s: open it to start mail to it again.", email=current_user.email), "info")
    return redirect(url_for("account.show"))


@bp.route("/account/mail/lift/<token>", methods=["GET", "POST"])
@link_page
def lift_from_link(token):
    """GET only asks (mail scanners open links); the button lifts it."""
    user, entry = credentials.suppression_for_lift_link(token)
    form = FlaskForm()
    if form.validate_on_submit():
        credentials.lift_from_link(token)
        flash(_("Mail to %(email)s is on again.", email=user.email), "info")
        return redirect(url_for("account.show") if current_user.is_authenticated else url_for("events.home"))
    return render_template("account/lift_suppression.html", form=form, user=user, entry=entry)


def _deleted():
    logout_user()
    flash(_("Your account is deleted. Thank you for having used Soonish."), "info")
    return redirect(url_for("events.home"))


@bp.get("/account/export")
@login_required
def export():
    body = json.dumps(export_data(current_user), indent=2, ensure_ascii=False)
    return Response(body, mimetype="application/json", headers={
        "Content-Disposition": 'attachment; filename="soonish-my-data.json"', "Cache-Control": "no-store",
    })


# Forget my address (email-only followers, from any mail) ---------------------------------------

def forget_address_page(token):
    follower = erasure.follower_from_forget_link(token)
    return render_template("account/forget_address.html", follower=follower, token=token)


def forget_address(token):
    erasure.forget_follower(token)
    return render_template("account/forget_address.html", follower=None, token=token, forgotten=True)


one_click_link(bp, "/s/forget/<token>", forget_address_page, forget_address)
