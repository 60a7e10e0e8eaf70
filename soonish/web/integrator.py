"""The account's pages for integrators: personal API keys and outgoing webhook endpoints
(with each endpoint's messages, attempts and a resend button). Thin: the services decide."""
from datetime import datetime, time, timezone

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required

from soonish.outgoing_webhooks import EVENT_TYPES
from soonish.services import ServiceError, api_keys, lists
from soonish.services import webhook_endpoints as endpoint_service

bp = Blueprint("integrator", __name__, url_prefix="/account")
SHOWN = 100  # a person's keys and endpoints fit one page; the API pages past this


def _error_page(render, error: ServiceError):
    messages = [m for ms in error.fields.values() for m in ms] or [error.message]
    return render(errors=messages), error.status


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
        return keys(errors=["Give the expiry as a date (YYYY-MM-DD), or leave it empty."]), 422
    try:
        key, plain = api_keys.create_key(current_user, request.form.get("name", ""), request.form.getlist("scopes"),
                                         expires_at)
    except ServiceError as error:
        return _error_page(lambda **kw: keys(**kw), error)
    flash(f"Key “{key.name}” created. Copy it now: it is shown only this once.", "success")
    return keys(new_key=plain)


@bp.post("/api-keys/<int:key_id>/revoke")
@login_required
def revoke_key(key_id):
    try:
        api_keys.revoke_key(current_user, key_id)
    except ServiceError as error:
        abort(error.status)
    flash("The key is revoked; requests made with it are refused from now on.", "info")
    return redirect(url_for("integrator.keys"))


@bp.get("/webhooks")
@login_required
def webhooks(new_secret: str | None = None, errors: list[str] | None = None):
    endpoints = endpoint_service.endpoints_page(current_user, SHOWN, None).items
    return render_template("integrator/webhooks.html", endpoints=endpoints, event_types=EVENT_TYPES,
                           new_secret=new_secret, errors=errors or [], form=request.form)


@bp.post("/webhooks")
@login_required
def create_webhook():
    try:
        endpoint, secret = endpoint_service.create_endpoint(
            current_user, request.form.get("url", ""), request.form.getlist("event_types"), request.form.get("description", ""))
    except ServiceError as error:
        return _error_page(lambda **kw: webhooks(**kw), error)
    flash("Endpoint added. Verify deliveries with its signing secret (shown below; also on the endpoint's page).", "success")
    return webhooks(new_secret=secret)


@bp.get("/webhooks/<int:endpoint_id>")
@login_required
def webhook(endpoint_id):
    try:
        endpoint = endpoint_service.get_endpoint(current_user, endpoint_id)
    except ServiceError as error:
        abort(error.status)
    messages = endpoint_service.messages_page(current_user, endpoint_id, SHOWN, None).items
    return render_template("integrator/webhook.html", endpoint=endpoint, messages=messages,
                           secret=endpoint_service.secret_of(endpoint))


@bp.post("/webhooks/<int:endpoint_id>/toggle")
@login_required
def toggle_webhook(endpoint_id):
    try:
        endpoint = endpoint_service.get_endpoint(current_user, endpoint_id)
        endpoint_service.update_endpoint(current_user, endpoint_id, {"is_active": not endpoint.is_active})
    except ServiceError as error:
        abort(error.status)
    return redirect(url_for("integrator.webhook", endpoint_id=endpoint_id))


@bp.post("/webhooks/<int:endpoint_id>/delete")
@login_required
def delete_webhook(endpoint_id):
    try:
        endpoint_service.delete_endpoint(current_user, endpoint_id)
    except ServiceError as error:
        abort(error.status)
    flash("Endpoint removed.", "info")
    return redirect(url_for("integrator.webhooks"))


@bp.post("/webhooks/<int:endpoint_id>/messages/<int:message_id>/resend")
@login_required
def resend(endpoint_id, message_id):
    try:
        endpoint_service.resend(current_user, endpoint_id, message_id)
    except ServiceError as error:
        if error.status == 404:
            abort(404)
        flash(error.message, "error")
    else:
        flash("Sending it again now.", "success")
    return redirect(url_for("integrator.webhook", endpoint_id=endpoint_id))
