"""Event pages: home, event page, organizer dashboard, create/edit/cancel forms."""
from collections.abc import Callable
from datetime import datetime
from zoneinfo import ZoneInfo

from flask import Blueprint, Response, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from flask_wtf import FlaskForm
from wtforms import (
    BooleanField, DateField, DateTimeLocalField, HiddenField, IntegerField, RadioField, SelectField, StringField,
    TextAreaField,
)
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional

from soonish.domain.communities import Action, may
from soonish.domain.series import recurrence
from soonish.field_limits import (
    EVENT_DESCRIPTION_MAX, LANGUAGE_TAG_MAX, LOCATION_MAX, ONLINE_URL_MAX, SERIES_COUNT_MAX, SERIES_INTERVAL_MAX, STILL_COMING_HOURS_DEFAULT,
    STILL_COMING_HOURS_MAX, STILL_COMING_HOURS_MIN, TITLE_MAX,
)
from soonish.i18n import _, _l
from soonish.models import DeliveryStatus, Event, Series
from soonish.services import ValidationFailed, concurrency, mail_standing
from soonish.services import communities as community_service
from soonish.services import events as event_service
from soonish.services import notifications as notification_service
from soonish.services import series as series_service
from soonish.services import subscriptions as subscription_service
from soonish.web import anonymous_page
from soonish.web.auth import current_user_or_none
from soonish.web.errors import refusal_flashed, refusal_kept
from soonish.web.htmx import is_htmx_request, redirect_to, render_page
from soonish.web.once import once_per_form
from soonish.web.rsvp import rsvp_box_context
from soonish.web.subscriptions import CheckboxesField, subscribe_box_context

bp = Blueprint("events", __name__)
# The cancel dialog is part of the event page, which several blueprints render.
bp.add_app_template_global(event_service.CANCEL_REASON_MAX, "cancel_reason_max")

# What a datetime-local input sends (first: what it is given back).
LOCAL_INPUT_FORMATS = ["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S"]
VISIBILITY_CHOICES = [
    ("public", _l("Public: listed on Soonish")),
    ("unlisted", _l("Unlisted: only people with the link")),
    ("private", _l("Private: only you")),
]
# Sent by the event form's htmx change trigger, naming the field just changed: check, don't save.
CHECK_FIELD = "check_field"
REPEAT_CHOICES = [
    ("none", _l("Does not repeat")),
    ("weekly", _l("Weekly, on the days ticked")),
    ("monthly_weekday", _l("Monthly, on the same weekday (like the 2nd Tuesday)")),
    ("monthly_day", _l("Monthly, on the same day of the month")),
]
WEEKDAY_CHOICES = list(zip(recurrence.WEEKDAYS, (_l("Mon"), _l("Tue"), _l("Wed"), _l("Thu"), _l("Fri"), _l("Sat"), _l("Sun"))))
SCOPE_CHOICES = [("this", _l("This occurrence only")), ("following", _l("This and all following occurrences"))]


class EventForm(FlaskForm):
    # The service checks the rule the Repeats choices make: its errors are shown beside them.
    SERVICE_FIELDS = {"rrule": "repeats"}

    title = StringField(_l("Title"), validators=[DataRequired(_l("Give the event a title.")), Length(max=TITLE_MAX)])
    starts_at = DateTimeLocalField(
        _l("Starts"), format=LOCAL_INPUT_FORMATS, validators=[InputRequired(_l("When does it start?"))]
    )
    ends_at = DateTimeLocalField(_l("Ends"), format=LOCAL_INPUT_FORMATS, validators=[Optional()])
    timezone = StringField(_l("Time zone"), default="UTC", validators=[DataRequired(_l("Pick a time zone."))])
    location = StringField(_l("Where"), validators=[Length(max=LOCATION_MAX)])
    # The service checks the length (beside the field, like its other checks); the browser stops there too.
    description = TextAreaField(_l("Details"), render_kw={"maxlength": EVENT_DESCRIPTION_MAX})
    visibility = SelectField(_l("Who can see it"), choices=VISIBILITY_CHOICES, default="public")
    online_url = StringField(_l("Online link"), validators=[Length(max=ONLINE_URL_MAX)])
    language = StringField(_l("Language of your title and description"), validators=[Length(max=LANGUAGE_TAG_MAX)],
                           description=_l("A tag such as en, de or pt-BR, so screen readers read it right. Optional."))
    show_follower_count = BooleanField(_l("Show how many people follow it"), default=True)
    still_coming_check = BooleanField(_l("Ask those going whether they're still coming"), default=False)
    # The service checks the range (beside the field); the browser's number input stops there too.
    # Left empty it is the default.
    still_coming_hours = IntegerField(
        _l("Hours before the start"), default=STILL_COMING_HOURS_DEFAULT, validators=[Optional()],
        render_kw={"min": STILL_COMING_HOURS_MIN, "max": STILL_COMING_HOURS_MAX, "step": 1, "inputmode": "numeric"},
    )
    # New events only, for members of a community: which one hosts it ("" their own page).
    community = SelectField(_l("Hosted by"), choices=[], default="")
    # The version the organizer started editing from: a save from an older one is refused.
    version = HiddenField()
    # New events only: a series instead of one event (its rule is built from these choices).
    repeats = SelectField(_l("How often"), choices=REPEAT_CHOICES, default="none")
    repeat_interval = IntegerField(_l("Every how many weeks or months"), default=1,
                                   validators=[Optional(), NumberRange(1, SERIES_INTERVAL_MAX)])
    repeat_weekdays = CheckboxesField(_l("On"), choices=WEEKDAY_CHOICES)
    repeat_until = DateField(_l("Last day"), validators=[Optional()])
    repeat_count = IntegerField(_l("Number of times"), validators=[Optional(), NumberRange(1, SERIES_COUNT_MAX)])
    # Editing an occurrence of a series: just it, or it and the following ones.
    scope = RadioField(_l("Apply the change to"), choices=SCOPE_CHOICES, default="this")

    def repeating(self) -> bool:
        return (self.repeats.data or "none") != "none"

    def rule_text(self) -> str:
        """The RRULE the Repeats choices make; the start gives the weekday and the day. The
        series service checks it (an end is required, within the limits)."""
        start = self.starts_at.data
        interval = self.repeat_interval.data or 1
        ends = dict(until=self.repeat_until.data, count=self.repeat_count.data)
        if self.repeats.data == "weekly":
            return recurrence.weekly(self.repeat_weekdays.data or [recurrence.WEEKDAYS[start.weekday()]], interval, **ends)
        if self.repeats.data == "monthly_weekday":
            return recurrence.monthly(interval, weekday=recurrence.WEEKDAYS[start.weekday()],
                                      position=(start.day - 1) // 7 + 1, **ends)
        return recurrence.monthly(interval, monthday=start.day, **ends)

    def series_fields(self) -> series_service.SeriesFields:
        return series_service.SeriesFields(**event_service.shared_values(self.fields()), rrule=self.rule_text())

    def fields(self) -> event_service.EventFields:
        return event_service.EventFields(
            title=self.title.data or "",
            starts_at=self.starts_at.data,
            ends_at=self.ends_at.data,
            timezone=(self.timezone.data or "").strip(),
            location=self.location.data or "",
            description=self.description.data or "",
            visibility=self.visibility.data,
            online_url=self.online_url.data or "",
            language=self.language.data or None,
            show_follower_count=bool(self.show_follower_count.data),
            still_coming_check=bool(self.still_coming_check.data),
            still_coming_hours=(STILL_COMING_HOURS_DEFAULT if self.still_coming_hours.data is None
                                else self.still_coming_hours.data),
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
        self.online_url.data = event.online_url
        self.language.data = event.language or ""
        self.show_follower_count.data = event.show_follower_count
        self.still_coming_check.data = event.still_coming_check
        self.still_coming_hours.data = event.still_coming_hours
        self.version.data = str(event.version)

    def edited_version(self) -> int | None:
        value = (self.version.data or "").strip()
        return int(value) if value.isdigit() else None

    def check_as_filled_in(self, changed: str, event: Event | None) -> None:
        """Validate without saving, showing errors only on fields the organizer has reached
        (filled in, or just changed): a blank field further down is not a mistake yet.
        ``event``: the one being edited, whose own start may already be past."""
        self.validate()
        self.check_service_rules(event)
        for field in self:
            reached = field.name == changed or any(str(v).strip() for v in field.raw_data or [])
            # One message a field while typing: the form's own comes first.
            field.errors = list(field.errors[:1]) if reached else []

    def check_service_rules(self, event: Event | None) -> None:
        """Add the service's errors (end after start, a start not past, a known zone) to the
        form's own, so one submit shows every mistake, even when a required field is also missing.
        ``event``: the one being edited, whose own start may already be past."""
        if self.starts_at.data is None:  # the service's checks are all relative to the start
            return
        try:
            if event is None and self.repeating():
                series_service.check_series_fields(self.series_fields())
            else:
                event_service.check_event_fields(self.fields(), event)
        except ValidationFailed as exc:  # the checks' result, merged with the form's own
            for name, messages in exc.fields.items():
                field = getattr(self, self.SERVICE_FIELDS.get(name, name), None)
                # A field the form already faults (a blank title) keeps its one message.
                if field is not None and not field.errors:
                    field.errors = list(messages)


def _local_naive(value: datetime, tz: ZoneInfo) -> datetime:
    """The wall-clock time a datetime-local input shows for ``value`` in ``tz``."""
    return value.astimezone(tz).replace(tzinfo=None)


@bp.get("/")
def home():
    return render_page(
        "events/home.html", "events/_upcoming.html", events=event_service.list_upcoming_public_events()
    )


ANNOUNCED = _l("Your announcement is on its way to every follower. Watch the delivery counts below.")


class AnnouncementForm(FlaskForm):
    title = StringField(_l("Headline"), validators=[DataRequired(_l("Write a headline.")), Length(max=TITLE_MAX)])
    body = TextAreaField(_l("Message"), validators=[Length(max=5000)])


@bp.get("/e/<slug>")
def show(slug):
    shared = anonymous_page.serves_viewer()
    if shared and (kept := anonymous_page.kept(slug)) and anonymous_page.serves_event(kept.event_id):
        return anonymous_page.response(kept)
    event = visible_event_or_404(slug)
    if is_htmx_request() and request.args.get("since") == str(event.version):
        return Response(status=204)  # the open page is current: a poll costs one query, no render
    if shared and anonymous_page.serves_event(event.id):
        return anonymous_page.response(anonymous_page.keep(event, lambda **per_view: render_template(
            "events/show.html", event=event, **_sidebar_context(event), **per_view)))
    return render_page("events/show.html", "events/_details.html", event=event, **_sidebar_context(event))


def _sidebar_context(event) -> dict:
    """The subscribe box and the organizer's panel, on full page loads only (polls skip them)."""
    if is_htmx_request():
        return {}
    return {**subscribe_box_context(event), **_organizer_context(event), **rsvp_box_context(event)}


def _organizer_context(event, form: AnnouncementForm | None = None) -> dict:
    """The announce form and delivery reports, for the event's organizer only."""
    if not may(current_user, Action.SEE_DELIVERIES, event):
        return {}
    return {
        "announce_form": form or AnnouncementForm(),
        "reports": notification_service.delivery_reports(current_user, event.id, fold_welcomes=True),
        "subscriber_count": subscription_service.count_active(event),
    }


@bp.post("/events/<int:event_id>/announce")
@login_required
@once_per_form
def announce(event_id):
    """Send an announcement. htmx gets the organizer panel back, with a fresh form and the new
    message's delivery counts updating live; a plain form post goes back to the event page."""
    event = event_service.get_event_for_organizer(current_user, event_id, Action.ANNOUNCE)
    form = AnnouncementForm()
    if form.validate_on_submit():
        with refusal_kept(form):
            notification_service.announce(current_user, event_id, form.title.data, form.body.data or "")
            if not is_htmx_request():
                flash(ANNOUNCED, "success")
                return redirect(url_for("events.show", slug=event.slug) + "#organizer")
            return render_template(
                "events/_organizer_panel.html", event=event, announced=ANNOUNCED,
                **_organizer_context(event, AnnouncementForm(formdata=None)),
            )
    context = {**subscribe_box_context(event), **_organizer_context(event, form)}
    return render_page("events/show.html", "events/_organizer_panel.html", status=422, event=event, **context)


@bp.get("/events/<int:event_id>/deliveries")
@login_required
def deliveries(event_id):
    """The delivery reports fragment; the page polls it quickly while anything is being sent,
    slowly otherwise, with a 204 while nothing new was sent."""
    event = event_service.get_event_for_organizer(current_user, event_id, Action.SEE_DELIVERIES)
    if _nothing_sent_since(event_id):
        return Response(status=204)
    reports = notification_service.delivery_reports(current_user, event.id, fold_welcomes=True)
    return render_template("events/_deliveries.html", event=event, reports=reports)


DELIVERY_STATUSES = {status.value for status in DeliveryStatus}


@bp.get("/events/<int:event_id>/messages/<int:notification_id>")
@login_required
def recipients(event_id, notification_id):
    """Who one message went to: each follower's delivery, its channel, outcome and error."""
    return _recipients_page(
        event_id, lambda **args: notification_service.recipients(current_user, event_id, notification_id, **args),
        {"notification_id": notification_id},
    )


@bp.post("/events/<int:event_id>/messages/<int:notification_id>/resume")
@login_required
@once_per_form
def resume_message(event_id, notification_id):
    """Resume a message paused for its bounce rate. Refused (a 409 once it was resumed or
    cancelled) on the error page, like any refusal."""
    notification_service.resume(current_user, event_id, notification_id)
    flash(_("Resumed: the rest is being sent. Addresses that bounced stay skipped."), "success")
    return redirect(url_for("events.recipients", event_id=event_id, notification_id=notification_id))


@bp.post("/events/<int:event_id>/messages/<int:notification_id>/cancel-rest")
@login_required
@once_per_form
def cancel_rest_of_message(event_id, notification_id):
    """Send no more of a message paused for its bounce rate."""
    notification_service.cancel_rest(current_user, event_id, notification_id)
    flash(_("Cancelled: nobody else gets this message."), "info")
    return redirect(url_for("events.recipients", event_id=event_id, notification_id=notification_id))


@bp.get("/events/<int:event_id>/messages/welcomes")
@login_required
def welcome_recipients(event_id):
    """Who got the welcomes, folded into one entry on the event page."""
    return _recipients_page(
        event_id, lambda **args: notification_service.welcome_recipients(current_user, event_id, **args), {},
    )


def _recipients_page(event_id: int, list_recipients, url_args: dict):
    event = event_service.get_event_for_organizer(current_user, event_id, Action.SEE_DELIVERIES)
    # The filter links make these; a hand-edited URL gets all followers or the first page.
    status = request.args.get("status")
    listing = list_recipients(
        status=status if status in DELIVERY_STATUSES else None,
        page=max(1, request.args.get("page", 1, type=int)),
    )
    return render_page(
        "events/recipients.html", "events/_recipients.html", event=event, listing=listing,
        # The filter and page links point back here.
        list_endpoint=request.endpoint, list_args={"event_id": event_id, **url_args},
    )


def _nothing_sent_since(event_id: int | None = None) -> bool:
    """True for an idle panel's poll (``since`` = the newest message it shows) when nothing newer
    has been sent since."""
    since = request.args.get("since")
    return (
        is_htmx_request() and since is not None
        and since == str(notification_service.newest_notification_id(current_user, event_id))
    )


@bp.get("/dashboard")
@login_required
def dashboard():
    """My events with their followers and latest delivery counts; htmx polls the list quickly
    while a broadcast is being sent, slowly otherwise (204 while nothing new was sent)."""
    if _nothing_sent_since():
        return Response(status=204)
    return render_page(
        "events/dashboard.html", "events/_organized.html",
        overview=notification_service.organizer_overview(current_user),
        standing=None if is_htmx_request() else mail_standing.organizer_standing(current_user),
    )


@bp.route("/events/new", methods=["GET", "POST"])
@login_required
def create():
    form = EventForm()
    hosts = community_service.hosted_by(current_user)
    if hosts:
        form.community.choices = [("", _("You (your own page)"))] + [(str(c.id), c.name) for c in hosts]
    else:
        del form.community

    def save(fields: event_service.EventFields) -> Event | Series:
        # Read once the form is valid: the value is then one of the choices offered.
        community_id = int(form.community.data) if form.community and form.community.data else None
        if form.repeating():
            return series_service.create_series(current_user, form.series_fields(), community_id)
        return event_service.create_event(current_user, fields, community_id)

    return _event_form_page(None, save, _("Your event is live. Share its link to gather followers."), form)


@bp.route("/events/<int:event_id>/edit", methods=["GET", "POST"])
@login_required
def edit(event_id):
    form = EventForm()
    del form.community  # an event stays where it was made

    def save(fields: event_service.EventFields) -> Event:
        try:
            if event.series_id is not None and form.scope.data == "following":
                concurrency.check_version(event, form.edited_version())
                if fields.timezone != event.timezone:
                    raise ValidationFailed.field("timezone", _("A series keeps its time zone: change this occurrence "
                                                             "on its own, or make a new series."))
                changes = {name: value for name, value in vars(fields).items() if name in series_service.EDITABLE}
                series_service.edit_following(current_user, event_id, changes)
                return event_service.get_event_for_organizer(current_user, event_id)
            return event_service.update_event(current_user, event_id, vars(fields), form.edited_version())
        except concurrency.VersionMismatch as stale:
            # What the organizer typed stays in the form; saving again now is a deliberate overwrite.
            form.version.data = str(stale.event.version)
            raise

    event = event_service.get_event_for_organizer(current_user, event_id)
    return _event_form_page(event, save, _("Saved. Followers see the change now."), form)


def _event_form_page(event: Event | None, save: Callable[[event_service.EventFields], Event | Series],
                     saved_message: str, form: EventForm | None = None):
    """Create and edit: check fields as they change (htmx), save on submit, show errors in place."""
    form = form or EventForm()
    if form.is_submitted():
        changed = request.form.get(CHECK_FIELD)
        if changed:
            form.check_as_filled_in(changed, event)
        elif not form.validate():
            form.check_service_rules(event)
        else:
            with refusal_kept(form):
                saved = save(form.fields())
                if isinstance(saved, Series):
                    flash(_("Your series is live; its occurrences of the coming weeks are listed below."), "success")
                    return redirect_to(url_for("series.show", slug=saved.slug))
                flash(saved_message, "success")
                return redirect_to(url_for("events.show", slug=saved.slug))
    elif event is not None:
        form.fill_from(event)
    return render_page(
        "events/form.html", "events/_form.html",
        form=form, event=event, zone_names=event_service.zone_names(),
    )


@bp.post("/events/<int:event_id>/cancel")
@login_required
@once_per_form
def cancel(event_id):
    event = event_service.get_event_for_organizer(current_user, event_id)
    with refusal_flashed():
        event_service.cancel_event(current_user, event_id, request.form.get("reason", ""))
        flash(_("The event is cancelled and its followers are being told."), "info")
    return redirect(url_for("events.show", slug=event.slug))


def visible_event_or_404(slug: str) -> Event:
    """The event if the viewer may see it; a private event of someone else is just missing (404)."""
    return event_service.get_visible_event(current_user_or_none(), slug=slug)
