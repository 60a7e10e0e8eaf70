"""The account over JSON: revoke tokens, reset or change the password, change the email,
download one's data, delete the account, and delivery settings.

Personal API keys can do none of this but the delivery settings, whatever their scopes (as with
GitHub's and Stripe's keys, an account's credentials, its deletion and its full export belong to
its owner signed in): a key is handed to an integration, and the export holds every channel's
decrypted URL.
"""
from flask_login import current_user
from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from soonish import i18n
from soonish.field_limits import PASSWORD_MAX
from soonish.services import accounts, credentials, erasure
from soonish.services.accounts import MIN_PASSWORD_LENGTH
from soonish.services.export import export_data
from soonish.web.limits import password_reset_limit
from soonish.web.tokens import issue_token
from soonish.web.api.access import account_only, authorized
from soonish.web.api.base import ApiBlueprint
from soonish.web.api.schemas import MessageOut, TokenOut

bp = ApiBlueprint("api_account", __name__, url_prefix="/api/v1", description="Your account: tokens, password, data")

NEW_PASSWORD = validate.Length(min=MIN_PASSWORD_LENGTH, max=PASSWORD_MAX)


class PasswordResetIn(Schema):
    email = fields.String(required=True, validate=validate.Length(min=3, max=254))


class PasswordResetConfirmIn(Schema):
    token = fields.String(required=True, validate=validate.Length(min=1, max=500),
                          metadata={"description": "The token at the end of the mailed /reset-password/ link."})
    password = fields.String(required=True, validate=NEW_PASSWORD)


class PasswordChangeIn(Schema):
    current_password = fields.String(required=True, validate=validate.Length(max=PASSWORD_MAX))
    new_password = fields.String(required=True, validate=NEW_PASSWORD)


class EmailChangeIn(Schema):
    email = fields.Email(required=True, validate=validate.Length(max=254))
    current_password = fields.String(required=True, validate=validate.Length(max=PASSWORD_MAX))


class DeleteAccountIn(Schema):
    password = fields.String(required=True, validate=validate.Length(max=PASSWORD_MAX))


class SettingsSchema(Schema):
    locale = fields.String(
        allow_none=True, validate=validate.OneOf(i18n.SUPPORTED_LOCALES),
        metadata={"description": "The language of the pages, mails, chat messages and reminders sent to you; "
                                 "null: your browser's Accept-Language decides."})
    email_fallback = fields.Boolean( metadata={"description": "When a Slack or Discord DM can't reach you for good (DMs closed, "
                                 "the account gone), the message is mailed once to your verified email instead, "
                                 "and the organizer sees it fell back to email. On unless turned off."})


class SettingsChange(SettingsSchema):
    @validates_schema
    def something_to_change(self, data, **kwargs):
        if not data:
            raise ValidationError("Give at least one setting to change: email_fallback or locale.")


class ExportOut(Schema):
    """The whole of it is described in README "Your data"; the top-level parts:"""

    format = fields.Integer()
    exported_at = fields.String()
    account = fields.Dict()
    events_organized = fields.List(fields.Dict())
    follows = fields.List(fields.Dict(), metadata={"description": "With reminder_offsets in seconds."})
    rsvps = fields.List(fields.Dict(), metadata={
        "description": "Your answers, with your waitlist_position (1: next in line) and place_offered_until."})
    channels = fields.List(fields.Dict(), metadata={"description": "With each channel's full, decrypted URL."})
    chat_identities = fields.List(fields.Dict())
    webhook_endpoints = fields.List(fields.Dict(), metadata={"description": "Without their signing secrets."})
    api_keys = fields.List(fields.Dict(), metadata={
        "description": "Name, scopes, created, last used, expiry and revocation; never the key."})
    messages_received = fields.List(fields.Dict(), metadata={"description": "From the deliveries ledger."})


def _token_for(user) -> dict:
    access_token, lifetime = issue_token(user)
    return {"access_token": access_token, "token_type": "Bearer", "expires_in": lifetime}


@bp.post("/auth/revoke", access=account_only, status=204)
def revoke():
    """Sign out everywhere: every session and every token issued until now (this one too)
    stops working. Personal API keys keep working, as GitHub's personal access tokens do when
    sessions are revoked: integrations run on, and each key is revoked on its own
    (`DELETE /api-keys/{key_id}`). A password reset revokes every key."""
    credentials.revoke_sessions(current_user)


@bp.post("/auth/password-reset", body=PasswordResetIn, status=202, response=MessageOut, errors=[422])
@password_reset_limit()
def password_reset(data):
    """Mail a reset link to the address if it has an account. The answer is the same either way."""
    credentials.request_password_reset(data["email"])
    return {"message": "If that address has a Soonish account, a reset link is on its way. It works once, for an hour."}


@bp.post("/auth/password-reset/confirm", body=PasswordResetConfirmIn, response=TokenOut, errors=[404, 422])
def password_reset_confirm(data):
    """Set a new password with the mailed token (once, within an hour). Every older session and
    token stops working and every personal API key is revoked; the answer carries a fresh token."""
    return _token_for(credentials.reset_password(data["token"], data["password"]))


@bp.post("/me/password", access=account_only, body=PasswordChangeIn, response=TokenOut, errors=[422])
def change_password(data):
    """Change the password (the current one is required). Every older token stops working;
    the answer carries a fresh one."""
    return _token_for(credentials.change_password(current_user, data["current_password"], data["new_password"]))


@bp.post("/me/email", access=account_only, body=EmailChangeIn, status=202, response=MessageOut,
         errors=[409, 422, 503])
def change_email(data):
    """Mail a confirm link to the new address; the change happens when it is opened, and the old
    address then gets a notice with an undo link."""
    address = credentials.request_email_change(current_user, data["email"], data["current_password"])
    return {"message": f"Open the link we sent to {address} to start using it."}


@bp.get("/me/settings", access=authorized("subscriptions:read"), response=SettingsSchema)
def settings():
    """How your messages reach you."""
    return {"email_fallback": current_user.email_fallback, "locale": current_user.locale}


@bp.patch("/me/settings", access=authorized("subscriptions:write"), body=SettingsChange, response=SettingsSchema,
          errors=[422])
def change_settings(data):
    """Change how your messages reach you: only the settings given change."""
    user = current_user
    if "email_fallback" in data:
        user = accounts.set_email_fallback(user, data["email_fallback"])
    if "locale" in data:
        user = accounts.set_locale(user, data["locale"])
    return {"email_fallback": user.email_fallback, "locale": user.locale}


@bp.get("/me/export", access=account_only, response=ExportOut)
def export():
    """Everything Soonish holds about you, as one JSON document."""
    return export_data(current_user)


@bp.delete("/me", access=account_only, body=DeleteAccountIn, status=204, errors=[409, 422])
def delete_me(data):
    """Delete the account (the password is required): upcoming events you organize are
    cancelled with a notice to their followers, your follows end, your channels and chat links
    are removed, your RSVPs are withdrawn (a place you held goes to the waitlist), your webhook
    endpoints and API keys are deleted, and the deliveries ledger keeps its counts without your
    address. A second deletion sent at the same instant also answers 204 and does nothing more."""
    erasure.delete_account(current_user, data["password"])
