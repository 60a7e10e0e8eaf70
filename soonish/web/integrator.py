"""The account's pages for integrators: personal API keys and outgoing webhook endpoints
(with each endpoint's messages, attempts and a resend button). Thin: the services decide."""
from datetime import datetime, time, timezone

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required

from soonish.domain.outgoing_webhooks import EVENT_TYPES
from soonish.i18n import _
from soonish.services import api_keys, lists
from soonish.services import webhook_endpoints as endpoint_service
from soonish.web.actions import Action, add_actions
from soonish.web.errors import refusal_flashed, refusal_kept

bp = Blueprint("integrator", __name__, url_prefix="/account")
SHOWN = 100  # a person's keys and endpoints fit one page; the API pages past this


@bp.get("/api-keys")
@login_required
def keys(new_key: str | None = None, errors: list[str] | None = None):
    return render_template("integrator/api_keys.html", keys=lists.my_api_keys(current_user, SHOWN, None).items,
                           scopes=api_keys.SCOPES, new_key=new_key, errors=errors or [], form=request.form)


@bp.post("/api-keys")
@login_required
def create_key():
    expires = (request.form.get("expires_on") or "").strip()
    try:
        expires_at = datetime.combine(datetime.strptime(expires, "%Y-%m-%d").date(), time.max, timezone.utc) if expires else None
    except ValueError:
        return keys(errors=[_("Give the expiry as a date (YYYY-MM-DD), or leave it empty.")]), 422
    with refusal_kept() as refusal:
        key, plain = api_keys.create_key(current_user, request.form.get("name", ""), request.form.getlist("scopes"),
                                         expires_at)
        flash(_("Key “%(name)s” created. Copy it now: it is shown only this once.", name=key.name), "success")
        return keys(new_key=plain)
    return keys(errors=refusal.messages), refusal.status


@bp.get("/webhooks")
@login_required
def webhooks(new_secret: str | None = None, errors: list[str] | None = None):
    endpoints = endpoint_service.endpoints_page(current_user, SHOWN, None).items
    return render_template("integrator/webhooks.html", endpoints=endpoints, event_types=EVENT_TYPES,
                           new_secret=new_secret, errors=errors or [], form=request.form)


@bp.post("/webhooks")
@login_required
def create_webhook():
    with refusal_kept() as refusal:
        endpoint, secret = endpoint_service.create_endpoint(
            current_user, request.form.get("url", ""), request.form.getlist("event_types"), request.form.get("description", ""))
        flash(_("Endpoint added. Verify deliveries with its signing secret (shown below; also on the endpoint's page)."), "success")
        return webhooks(new_secret=secret)
    return webhooks(errors=refusal.messages), refusal.status


@bp.get("/webhooks/<int:endpoint_id>")
@login_required
def webhook(endpoint_id):
    endpoint = endpoint_service.get_endpoint(current_user, endpoint_id)
    messages = endpoint_service.messages_page(current_user, endpoint_id, SHOWN, None).items
    return render_template("integrator/webhook.html", endpoint=endpoint, messages=messages,
                           secret=endpoint_service.secret_of(endpoint))


@bp.post("/webhooks/<int:endpoint_id>/toggle")
@login_required
def toggle_webhook(endpoint_id):
    endpoint = endpoint_service.get_endpoint(current_user, endpoint_id)
    endpoint_service.update_endpoint(current_user, endpoint_id, {"is_active": not endpoint.is_active})
    return redirect(url_for("integrator.webhook", endpoint_id=endpoint_id))


@bp.post("/webhooks/<int:endpoint_id>/messages/<int:message_id>/resend")
@login_required
def resend(endpoint_id, message_id):
    with refusal_flashed():  # a disabled endpoint; someone else's (or no such message) is missing (404)
        endpoint_service.resend(current_user, endpoint_id, message_id)
        flash(_("Sending it again now."), "success")
    return redirect(url_for("integrator.webhook", endpoint_id=endpoint_id))


add_actions(
    bp,
    Action("/api-keys/<int:key_id>/revoke", "revoke_key", api_keys.revoke_key,
           lambda revoked: _("The key is revoked; requests made with it are refused from now on."), "integrator.keys"),
    Action("/webhooks/<int:endpoint_id>/delete", "delete_webhook", endpoint_service.delete_endpoint,
           lambda removed: _("Endpoint removed."), "integrator.webhooks"),
)
