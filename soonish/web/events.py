"""Event pages: home, event page, organizer dashboard, create/edit/cancel forms."""
from datetime import datetime
from zoneinfo import ZoneInfo

from flask import Blueprint, abort, flash, redirect, render_template, url_for
from flask_login import current_user, login_required
from flask_wtf import FlaskForm
from wtforms import DateTimeLocalField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, InputRequired, Length, Optional

from ..services import ServiceError
from ..services import events as event_service
from ..services import notifications as notification_service
from ..services import subscriptions as subscription_service
from .auth import current_user_or_none
from .forms import apply_service_error
from .subscriptions import subscribe_box_context

bp = Blueprint("events", __name__)

# What a datetime-local input sends (first: what it is given back).
LOCAL_INPUT_FORMATS = ["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S"]
VISIBILITY_CHOICES = [
    ("public", "Public: listed on Soonish"),
    ("unlisted", "Unlisted: only people with the link"),
    ("private", "Private: only you"),
]


class EventForm(FlaskForm):
    title = StringField("Title", validators=[DataRequired("Give the event a title."), Length(max=200)])
    starts_at = DateTimeLocalField(
        "Starts", format=LOCAL_INPUT_FORMATS, validators=[InputRequired("When does it start?")]
    )
    ends_at = DateTimeLocalField("Ends", format=LOCAL_INPUT_FORMATS, validators=[Optional()])
    timezone = StringField("Time zone", default="UTC", validators=[DataRequired()])
    location = StringField("Where", validators=[Length(max=300)])
    description = TextAreaField("Details")
    visibility = SelectField("Who can see it", choices=VISIBILITY_CHOICES, default="public")

    def fields(self) -> event_service.EventFields:
        return event_service.EventFields(
            title=self.title.data or "",
            starts_at=self.starts_at.data,
            ends_at=self.ends_at.data,
            timezone=(self.timezone.data or "").strip(),
            location=self.location.data or "",
            description=self.description.data or "",
            visibility=self.visibility.data,
        )

    def fill_from(self, event) -> None:
        tz = ZoneInfo(event.timezone)
        self.title.data = event.title
        self.starts_at.data = _local_naive(event.starts_at, tz)
        self.ends_at.data = _local_naive(event.ends_at, tz) if event.ends_at else None
        self.timezone.data = event.timezone
        self.location.data = event.location
        self.description.data = event.description
        self.visibility.data = event.visibility.value


def _local_naive(value: datetime, tz: ZoneInfo) -> datetime:
    """The wall-clock time a datetime-local input shows for ``value`` in ``tz``."""
    return value.astimezone(tz).replace(tzinfo=None)


@bp.get("/")
def home():
    return render_template("events/home.html", events=event_service.list_upcoming_public_events())


class AnnouncementForm(FlaskForm):
    title = StringField("Headline", validators=[DataRequired("Write a headline."), Length(max=200)])
    body = TextAreaField("Message", validators=[Length(max=5000)])


@bp.get("/e/<slug>")
def show(slug):
    try:
        event = event_service.get_visible_event(current_user_or_none(), slug=slug)
    except ServiceError:
        abort(404)
    return render_template("events/show.html", event=event, **subscribe_box_context(event), **_organizer_context(event))


def _organizer_context(event, form: AnnouncementForm | None = None) -> dict:
    """The announce form and delivery reports, for the event's organizer only."""
    if not (current_user.is_authenticated and current_user.id == event.organizer_id):
        return {}
    return {
        "announce_form": form or AnnouncementForm(),
        "reports": notification_service.delivery_reports(current_user, event.id),
        "subscriber_count": subscription_service.count_active(event),
    }


@bp.post("/events/<int:event_id>/announce")
@login_required
def announce(event_id):
    event = _organized_or_abort(event_id)
    form = AnnouncementForm()
    if form.validate_on_submit():
        try:
            notification_service.announce(current_user, event_id, form.title.data, form.body.data or "")
        except ServiceError as exc:
            apply_service_error(form, exc)
        else:
            flash("Announcement on its way to every follower. Delivery counts update below.", "success")
            return redirect(url_for("events.show", slug=event.slug))
    context = {**subscribe_box_context(event), **_organizer_context(event, form)}
    return render_template("events/show.html", event=event, **context), 422


@bp.get("/events/<int:event_id>/deliveries")
@login_required
def deliveries(event_id):
    """The delivery reports fragment; the page polls it while anything is pending."""
    event = _organized_or_abort(event_id)
    return render_template("events/_deliveries.html", event=event, reports=notification_service.delivery_reports(current_user, event.id))


@bp.get("/dashboard")
@login_required
def dashboard():
    return render_template(
        "events/dashboard.html", events=event_service.list_organized_events(current_user)
    )


@bp.route("/events/new", methods=["GET", "POST"])
@login_required
def create():
    form = EventForm()
    if form.validate_on_submit():
        try:
            event = event_service.create_event(current_user, form.fields())
        except ServiceError as exc:
            apply_service_error(form, exc)
        else:
            flash("Your event is live. Share its link to gather followers.", "success")
            return redirect(url_for("events.show", slug=event.slug))
    return render_template("events/form.html", form=form, event=None)


@bp.route("/events/<int:event_id>/edit", methods=["GET", "POST"])
@login_required
def edit(event_id):
    event = _organized_or_abort(event_id)
    form = EventForm()
    if form.validate_on_submit():
        try:
            event = event_service.update_event(current_user, event_id, vars(form.fields()))
        except ServiceError as exc:
            apply_service_error(form, exc)
        else:
            flash("Saved. Followers will see the change.", "success")
            return redirect(url_for("events.show", slug=event.slug))
    elif not form.is_submitted():
        form.fill_from(event)
    return render_template("events/form.html", form=form, event=event)


@bp.post("/events/<int:event_id>/cancel")
@login_required
def cancel(event_id):
    _organized_or_abort(event_id)
    event = event_service.cancel_event(current_user, event_id)
    flash("The event is cancelled and its followers are being told.", "info")
    return redirect(url_for("events.show", slug=event.slug))


def _organized_or_abort(event_id: int):
    try:
        return event_service.get_event_for_organizer(current_user, event_id)
    except ServiceError as exc:
        abort(exc.status)
