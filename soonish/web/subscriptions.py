"""Following events from the web: the event page's subscribe box, the links in every mail
(confirm, manage, one-click unsubscribe) and the signed-in "my subscriptions" page."""
from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from flask_wtf import FlaskForm
from wtforms import EmailField, SelectMultipleField, StringField
from wtforms.validators import DataRequired, Email

from ..services import ServiceError
from ..services import events as event_service
from ..services import integrations as integration_service
from ..services import subscriptions as subscription_service
from ..services.offsets import format_offset
from .auth import csrf_exempt, current_user_or_none
from .forms import apply_service_error
from .limits import subscribe_by_email_limit

bp = Blueprint("subscriptions", __name__)


class EmailSubscribeForm(FlaskForm):
    email = EmailField("Your email", validators=[DataRequired("Enter your email address."), Email("That doesn't look like an email address.")])


class OffsetsForm(FlaskForm):
    reminder_offsets = StringField("Remind me before", description="e.g. 1d 2h 15m; leave empty for no reminders")


class AccountSubscribeForm(OffsetsForm):
    channels = SelectMultipleField("Deliver to", coerce=str, description="None chosen: your account email")


def offsets_text(offsets: list[int]) -> str:
    return " ".join(format_offset(o) for o in offsets)


def channel_choices(user) -> list[tuple[str, str]]:
    """Channels as "integration:<id>" and tags as "tag:<name>", for the picker."""
    integrations = integration_service.list_integrations(user)
    choices = [(f"integration:{i.id}", f"{i.name} ({i.url_mask})") for i in integrations if i.is_active]
    tags = sorted({i.tag for i in integrations if i.tag and i.is_active})
    return choices + [(f"tag:{tag}", f"Every channel tagged “{tag}”") for tag in tags]


def selectors_from(values: list[str]) -> list[dict]:
    selectors = []
    for value in values:
        kind, _, ref = value.partition(":")
        selectors.append({"integration_id": int(ref)} if kind == "integration" else {"tag": ref})
    return selectors


def subscribe_box_context(event) -> dict:
    """What the event page's subscribe box needs (shared by the page and the POST handler)."""
    user = current_user_or_none()
    if user is None:
        return {"email_form": EmailSubscribeForm(), "subscription": None}
    form = AccountSubscribeForm(reminder_offsets="1d 1h")
    form.channels.choices = channel_choices(user)
    mine = next((s for s in subscription_service.list_mine(user) if s.event_id == event.id), None)
    return {"account_form": form, "subscription": mine}


@bp.post("/e/<slug>/subscribe")
@subscribe_by_email_limit()
def subscribe(slug):
    try:
        event = event_service.get_visible_event(current_user_or_none(), slug=slug)
    except ServiceError:
        abort(404)
    user = current_user_or_none()
    form = AccountSubscribeForm() if user else EmailSubscribeForm()
    if user:
        form.channels.choices = channel_choices(user)
    if form.validate_on_submit():
        try:
            if user:
                subscription_service.subscribe(
                    user, event.id, selectors_from(form.channels.data), form.reminder_offsets.data or ""
                )
                flash(f"You're following {event.title}. Reminders: {offsets_text(_mine(user, event).reminder_offsets) or 'none'}.", "success")
            else:
                subscription_service.subscribe_by_email(event, form.email.data)
                flash(f"Almost there: we sent a confirmation link to {form.email.data}.", "success")
            return redirect(url_for("events.show", slug=slug))
        except ServiceError as exc:
            apply_service_error(form, exc)
    context = subscribe_box_context(event)
    context["account_form" if user else "email_form"] = form
    return render_template("events/show.html", event=event, **context), 422


def _mine(user, event):
    return next(s for s in subscription_service.list_mine(user) if s.event_id == event.id)


@bp.get("/s/confirm/<token>")
def confirm(token):
    try:
        subscription = subscription_service.confirm(token)
    except ServiceError as exc:
        return render_template("subscriptions/link_problem.html", message=exc.message), exc.status
    return render_template(
        "subscriptions/confirmed.html", subscription=subscription,
        manage_token=subscription_service.manage_token(subscription),
    )


@bp.route("/s/manage/<token>", methods=["GET", "POST"])
def manage(token):
    subscription = _from_link(token)
    form = OffsetsForm(reminder_offsets=offsets_text(subscription.reminder_offsets))
    if form.validate_on_submit():
        try:
            subscription_service.set_offsets(subscription, form.reminder_offsets.data or "")
        except ServiceError as exc:
            apply_service_error(form, exc)
        else:
            flash("Saved. Your reminders are updated.", "success")
            return redirect(url_for("subscriptions.manage", token=token))
    return render_template("subscriptions/manage.html", subscription=subscription, form=form, token=token)


@bp.get("/s/unsubscribe/<token>")
def unsubscribe_page(token):
    # Link scanners follow GET links: this only asks; the button POSTs.
    return render_template("subscriptions/unsubscribe.html", subscription=_from_link(token), token=token)


@bp.post("/s/unsubscribe/<token>")
@csrf_exempt  # RFC 8058 one-click POSTs come from mail providers; the signed token is the proof
def unsubscribe(token):
    subscription = subscription_service.unsubscribe(_from_link(token))
    return render_template("subscriptions/unsubscribed.html", subscription=subscription, token=token)


def _from_link(token: str):
    try:
        return subscription_service.from_manage_token(token)
    except ServiceError as exc:
        abort(exc.status, exc.message)


@bp.get("/subscriptions")
@login_required
def mine():
    subscriptions = subscription_service.list_mine(current_user)
    forms = {s.id: OffsetsForm(prefix=f"s{s.id}", reminder_offsets=offsets_text(s.reminder_offsets)) for s in subscriptions}
    return render_template("subscriptions/mine.html", subscriptions=subscriptions, forms=forms)


@bp.post("/subscriptions/<int:subscription_id>")
@login_required
def update(subscription_id):
    subscription = _own_or_abort(subscription_id)
    form = OffsetsForm(prefix=f"s{subscription_id}")
    if form.validate_on_submit():
        try:
            subscription_service.set_offsets(subscription, form.reminder_offsets.data or "")
            flash("Reminders saved.", "success")
        except ServiceError as exc:
            flash(exc.fields.get("reminder_offsets", [exc.message])[0], "error")
    return redirect(url_for("subscriptions.mine"))


@bp.post("/subscriptions/<int:subscription_id>/unsubscribe")
@login_required
def leave(subscription_id):
    subscription = subscription_service.unsubscribe(_own_or_abort(subscription_id))
    flash(f"You no longer follow {subscription.event.title}.", "info")
    return redirect(request.referrer or url_for("subscriptions.mine"))


def _own_or_abort(subscription_id: int):
    """The signed-in user's subscription; someone else's is missing (404), like one that never was."""
    try:
        return subscription_service.get_own(current_user, subscription_id)
    except ServiceError as exc:
        abort(exc.status)
