"""Following events from the web: the event page's subscribe box, the links in every mail
(confirm, manage, one-click unsubscribe) and the signed-in "my subscriptions" page."""
from flask import Blueprint, abort, flash, render_template, request, session, url_for
from flask_login import current_user, login_required
from flask_wtf import FlaskForm
from wtforms import BooleanField, EmailField, SelectField, SelectMultipleField, StringField
from wtforms.validators import DataRequired, Email, Length, ValidationError
from wtforms.widgets import CheckboxInput, ListWidget

from soonish.web.once import once_per_form
from soonish.domain.delivery.mail import leave_series_token
from soonish.field_limits import DISPLAY_NAME_MAX
from soonish.i18n import LOCALE_NAMES, _, _l, current_locale, format_list, shipped
from soonish.models import DEFAULT_REMINDER_OFFSETS, RsvpAnswer, Subscription
from soonish.services import chat
from soonish.services import events as event_service
from soonish.services import integrations as integration_service
from soonish.services import rsvp as rsvp_service
from soonish.services import subscriptions as subscription_service
from soonish.services.offsets import format_offset
from soonish.web.auth import current_user_or_none, one_click_link, shared_page_form
from soonish.web.errors import link_page, refusal_kept
from soonish.web.htmx import redirect_to, render_page
from soonish.web.limits import subscribe_by_email_limit
from soonish.web.replicas import uses_primary
from soonish.web.rsvp import going_button

bp = Blueprint("subscriptions", __name__)

OFFSETS_TEXT_MAX = 200
# Session key: event id → {"email", "confirmed"} for what this browser followed by email, so the
# subscribe box says "check your inbox" or "following" instead of asking again. Only what this
# browser itself did: the database's state of someone's address is never shown to another browser.
EMAIL_FOLLOWS = "email_follows"
EMAIL_FOLLOWS_KEPT = 20


# The visitor's two acts, the buttons of one form: going (and so following), or following only.
GOING, KEEP_POSTED = "going", "follow"


class EmailSubscribeForm(FlaskForm):
    """A visitor's "I'm going" (name and email) or "Just keep me posted" (email alone)."""

    class Meta:
        # Checked before the view as every form post is (web/auth.py), where the shared
        # anonymous page's signed token also counts: the form adds no session-bound check.
        csrf = False

    name = StringField(_l("Your name"), validators=[Length(max=DISPLAY_NAME_MAX, message=_l("That name is too long."))])
    email = EmailField(_l("Your email"), validators=[
        DataRequired(_l("Enter your email address.")),
        Length(max=254, message=_l("That address is too long to be an email address.")),
        Email(_l("That doesn't look like an email address.")),
    ])
    listed = BooleanField(_l("Show my name to others going"))

    def going(self) -> bool:
        # A form from before "I'm going" (no intent) follows, as it said.
        return request.form.get("intent") == GOING

    def validate_name(self, field) -> None:
        if self.going() and not (field.data or "").strip():
            raise ValidationError(_("Enter your name: it's how the organizer knows who's coming."))


class OffsetsForm(FlaskForm):
    reminder_offsets = StringField(
        _l("Remind me before it starts"),
        validators=[Length(max=OFFSETS_TEXT_MAX, message=_l("That's more than five reminders can need."))],
        description=_l("Like 1d 2h 15m (days, hours, minutes); leave empty for no reminders."),
    )


class ManageForm(OffsetsForm):
    """A mail's manage page: the reminders, and the language the mails are written in."""

    locale = SelectField(_l("Language of the mails"), choices=[(code, name) for code, name in LOCALE_NAMES.items()])


class CheckboxesField(SelectMultipleField):
    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()

    def pre_validate(self, form) -> None:
        # WTForms' own message repeats the posted value back, however long or odd.
        offered = {value for value, _ in self.choices or []}
        if any(value not in offered for value in self.data or []):
            raise ValidationError(_("One of the chosen channels isn't available any more; pick again from the list."))


class ChannelsAndOffsetsForm(OffsetsForm):
    """A signed-in follower's choices: where to deliver (channels or tags) and when to remind."""

    channels = CheckboxesField(_l("Deliver to"), coerce=str)

    def offer(self, choices: list[tuple[str, str]]) -> "ChannelsAndOffsetsForm":
        self.channels.choices = choices
        return self

    def selectors(self) -> list[dict]:
        """The ticked channels as service selectors (values were checked against the choices)."""
        selectors = []
        for value in self.channels.data or []:
            kind, _, ref = value.partition(":")
            selectors.append({"integration_id": int(ref)} if kind == "integration" else
                             {"chat_identity_id": int(ref)} if kind == "chat" else {"tag": ref})
        return selectors


def offsets_text(offsets: list[int]) -> str:
    return " ".join(format_offset(o) for o in offsets)


def channel_choices(user) -> list[tuple[str, str]]:
    """Active channels as "integration:<id>", their tags as "tag:<name>" and chat accounts'
    DMs as "chat:<id>", for the picker."""
    active = [i for i in integration_service.list_integrations(user) if i.is_active]
    tags = sorted({i.tag for i in active if i.tag})
    return [(f"integration:{i.id}", _choice_label(i)) for i in active] + [
        (f"chat:{identity.id}", _("%(account)s (DM)", account=identity.label)) for identity in chat.linked_identities(user)
    ] + [(f"tag:{tag}", _("Every channel tagged “%(tag)s”", tag=tag)) for tag in tags]


def _choice_label(integration) -> str:
    if integration.email_address is None:
        return f"{integration.name} · {integration.url_mask}"
    if integration.awaiting_verification:
        return _("%(name)s · %(email)s (waiting for verification)", name=integration.name, email=integration.email_address)
    return f"{integration.name} · {integration.email_address}"


def _selected(selector) -> str:
    if selector.integration_id:
        return f"integration:{selector.integration_id}"
    return f"chat:{selector.chat_identity_id}" if selector.chat_identity_id else f"tag:{selector.tag}"


def choices_form(subscription: Subscription | None, choices, **kwargs) -> ChannelsAndOffsetsForm:
    """The picker filled in with a subscription's current choices (or the defaults)."""
    if subscription is None:
        selected, offsets = [], DEFAULT_REMINDER_OFFSETS
    else:
        selected = [_selected(s) for s in subscription.selectors]
        offsets = subscription.reminder_offsets
    # formdata=None: filled from the subscription even while another form is being posted.
    return ChannelsAndOffsetsForm(
        formdata=None, channels=selected, reminder_offsets=offsets_text(offsets), **kwargs
    ).offer(choices)


def subscribe_box_context(event, form: FlaskForm | None = None) -> dict:
    """What the event page's subscribe box needs (shared by the page and the POST handler)."""
    user = current_user_or_none()
    if user is None:
        return {
            "email_form": form or EmailSubscribeForm(),
            "subscription": None,
            "email_follow": None if form else session.get(EMAIL_FOLLOWS, {}).get(str(event.id)),
            **going_button(event),
        }
    subscription = subscription_service.find_mine(user, event)
    return {
        "account_form": form or choices_form(subscription, channel_choices(user)),
        "subscription": subscription,
    }


@bp.post("/e/<slug>/subscribe")
@shared_page_form  # the shared anonymous page's form
@subscribe_by_email_limit()
@once_per_form
def subscribe(slug):
    user = current_user_or_none()
    event = event_service.get_visible_event(user, slug=slug)
    form = ChannelsAndOffsetsForm().offer(channel_choices(user)) if user else EmailSubscribeForm()
    if form.validate_on_submit():
        with refusal_kept(form):
            if user:
                subscription = subscription_service.subscribe(
                    user, selectors=form.selectors(), reminder_offsets=form.reminder_offsets.data or "", slug=slug
                )[0]
                flash(_("You're following %(title)s. %(reminders)s", title=event.title,
                        reminders=reminders_sentence(subscription.reminder_offsets)), "success")
            else:
                going = form.going()
                subscription = subscription_service.subscribe_by_email(
                    event, form.email.data, name=form.name.data or "", going=going, listed=form.listed.data,
                    locale=current_locale())
                remember_email_follow(subscription, confirmed=False, going=going)
                flash(_("Almost there: open the link we just sent to %(email)s to confirm that you’re going. "
                        "(Not there? Check your spam folder.)", email=form.email.data.strip()) if going else
                      _("Almost there: open the link we just sent to %(email)s to start getting updates. "
                        "(Not there? Check your spam folder.)", email=form.email.data.strip()), "success")
            return redirect_to(url_for("events.show", slug=slug))
    return render_page(
        "events/show.html", "events/_subscribe_box.html", status=422,
        event=event, **subscribe_box_context(event, form),
    )


def remember_email_follow(subscription: Subscription, confirmed: bool, going: bool = False) -> None:
    follows = {k: v for k, v in session.get(EMAIL_FOLLOWS, {}).items() if k != str(subscription.event_id)}
    follows[str(subscription.event_id)] = {"email": subscription.user.email, "confirmed": confirmed, "going": going}
    session[EMAIL_FOLLOWS] = dict(list(follows.items())[-EMAIL_FOLLOWS_KEPT:])


def forget_email_follow(subscription: Subscription) -> None:
    follows = session.get(EMAIL_FOLLOWS, {})
    if str(subscription.event_id) in follows:
        session[EMAIL_FOLLOWS] = {k: v for k, v in follows.items() if k != str(subscription.event_id)}


def reminders_sentence(offsets: list[int]) -> str:
    if not offsets:
        return _("No reminders: just the organizer's news.")
    spoken = format_list((format_offset(offset) for offset in offsets), current_locale())
    return _("We'll remind you %(offsets)s before it starts.", offsets=spoken)


@bp.get("/s/confirm/<token>")
@uses_primary  # opening the link confirms
@link_page(event_of=subscription_service.event_of_confirm_link)
def confirm(token):
    subscription = subscription_service.confirm(token)
    answer = rsvp_service.find(subscription.event, subscription.user)
    going = answer is not None and answer.answer in (RsvpAnswer.GOING, RsvpAnswer.WAITLISTED)
    remember_email_follow(subscription, confirmed=True, going=going)
    return render_template(
        "subscriptions/confirmed.html", subscription=subscription, rsvp=answer,
        rsvp_labels=rsvp_service.ANSWER_LABELS, manage_token=subscription_service.manage_token(subscription),
    )


@bp.route("/s/manage/<token>", methods=["GET", "POST"])
@link_page
def manage(token):
    subscription = subscription_service.from_manage_token(token)
    form = ManageForm(reminder_offsets=offsets_text(subscription.reminder_offsets),
                      locale=shipped(subscription.locale or current_locale()))
    if form.validate_on_submit():
        with refusal_kept(form):
            subscription_service.set_offsets(subscription, form.reminder_offsets.data or "", form.locale.data)
            flash(f"Saved. {reminders_sentence(subscription.reminder_offsets)}", "success")
            return redirect_to(url_for("subscriptions.manage", token=token))
    return render_page(
        "subscriptions/manage.html", "subscriptions/_manage_form.html", status=422 if form.errors else 200,
        subscription=subscription, form=form, token=token, leave_series_token=leave_series_token(subscription),
    )


def unsubscribe_page(token):
    return render_template("subscriptions/unsubscribe.html", subscription=subscription_service.from_manage_token(token),
                           token=token)


def unsubscribe(token):
    subscription = subscription_service.unsubscribe(subscription_service.from_manage_token(token))
    forget_email_follow(subscription)
    return render_template("subscriptions/unsubscribed.html", subscription=subscription, token=token)


one_click_link(bp, "/s/unsubscribe/<token>", unsubscribe_page, unsubscribe)


@bp.get("/subscriptions")
@login_required
def mine():
    return _mine_page()


@bp.post("/subscriptions/<int:subscription_id>")
@login_required
def update(subscription_id):
    # Someone else's is missing (404), whatever the form says; so is one left meanwhile (_mine_page).
    subscription_service.get_own(current_user, subscription_id)
    form = ChannelsAndOffsetsForm(prefix=f"s{subscription_id}").offer(channel_choices(current_user))
    if form.validate_on_submit():
        with refusal_kept(form):
            subscription = subscription_service.update(current_user, subscription_id, {
                "selectors": form.selectors(), "reminder_offsets": form.reminder_offsets.data or "",
            })
            flash(_("Saved for %(title)s. %(reminders)s", title=subscription.event.title,
                    reminders=reminders_sentence(subscription.reminder_offsets)), "success")
            return redirect_to(url_for("subscriptions.mine"))
    return _mine_page(form, subscription_id)


def _mine_page(changed_form: ChannelsAndOffsetsForm | None = None, changed_id: int | None = None):
    """Every subscription with its form; after a failed save, that form with its errors (and
    for htmx, only that subscription's card)."""
    subscriptions = subscription_service.list_mine(current_user)
    choices = channel_choices(current_user)
    forms = {s.id: choices_form(s, choices, prefix=f"s{s.id}") for s in subscriptions}
    if changed_id is not None:
        if changed_id not in forms:
            abort(404)
        forms[changed_id] = changed_form
    shown = next((s for s in subscriptions if s.id == changed_id), None)
    return render_page(
        "subscriptions/mine.html", "subscriptions/_subscription.html", status=200 if changed_id is None else 422,
        subscriptions=subscriptions, forms=forms, subscription=shown,
    )


@bp.post("/subscriptions/<int:subscription_id>/unsubscribe")
@login_required
def leave(subscription_id):
    # Someone else's is missing (404), like one that never was.
    subscription = subscription_service.unsubscribe(subscription_service.get_own(current_user, subscription_id))
    flash(_("You no longer follow %(title)s. Nothing more will be sent about it.", title=subscription.event.title), "info")
    return redirect_to(request.referrer or url_for("subscriptions.mine"))
