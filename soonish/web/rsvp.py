"""RSVP pages: the event page's "Are you going?" box (live counts), the organizer's list and
CSV, and the pages one-tap mail links open (they only ask; a POST answers)."""
import hashlib

from flask import Blueprint, Response, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from flask_wtf import FlaskForm

from soonish.domain.communities import Action, may
from soonish.i18n import _
from soonish.links import LinkInvalid, LinkPurpose, unsign
from soonish.domain.messages import when_text
from soonish.models import Rsvp, db
from soonish.services import ValidationFailed
from soonish.services import events as event_service
from soonish.services import rsvp as rsvp_service
from soonish.services import subscriptions as subscription_service
from soonish.web.errors import Refusal, link_page, refusal_kept
from soonish.web.htmx import is_htmx_request

bp = Blueprint("rsvp", __name__)


GUESTS_SHOWN = 12


def rsvp_box_context(event) -> dict:
    """What the RSVP box shows: the counts, those going who agreed to be shown, the viewer's
    answer, and for the organizer the no-answer count, the list and the capacity settings."""
    if not event.rsvp_enabled and not _is_organizer(event):
        return {"rsvp_counts": None, **going_button(event)}
    counts = rsvp_service.counts(event, with_no_answer=_is_organizer(event))
    mine = rsvp_service.find(event, current_user) if current_user.is_authenticated else None
    guests = rsvp_service.listed_guests(event, GUESTS_SHOWN) if event.show_guest_list else []
    state = (f"{counts}|{mine.answer.value if mine else ''}|{mine.listed if mine else ''}|{event.rsvp_enabled}"
             f"|{event.status.value}|{event.show_guest_list}|{[guest.id for guest in guests]}")
    return {
        "rsvp_counts": counts, "my_rsvp": mine, "rsvp_choices": rsvp_service.CHOICE_LABELS,
        "rsvp_answer_labels": rsvp_service.ANSWER_LABELS, "rsvp_is_organizer": _is_organizer(event),
        "guests": guests, "rsvp_state": hashlib.sha1(state.encode()).hexdigest()[:12],
        **going_button(event, counts),
    }


def going_button(event, counts: rsvp_service.RsvpCounts | None = None) -> dict:
    """Whether answers are open, and the main button's words: "Register" where places are
    limited, "Join waitlist" when none is left, else "I'm going"."""
    if not event.capacity:
        label = _("I'm going")
    else:
        counts = counts or rsvp_service.counts(event, with_no_answer=False)
        label = _("Join waitlist") if not counts.places_left else _("Register")
    return {"rsvp_open": rsvp_service.is_open(event), "going_label": label}


def _is_organizer(event) -> bool:
    return may(current_user, Action.EDIT_EVENT, event)


def _visible_by_link(slug: str):
    """The event the page's box is on: by its link, as the page, so an unlisted one's box works
    for everyone who has the page."""
    return event_service.get_visible_event(current_user if current_user.is_authenticated else None, slug=slug)


def _box(event, refusal: Refusal | None = None) -> Response:
    """The box again, with the message of a refused change (and its status)."""
    refusal = refusal or Refusal()
    return Response(render_template("events/_rsvp_box.html", event=event, rsvp_error=refusal.message,
                                    **rsvp_box_context(event)), status=refusal.status)


def _changed(event, refusal: Refusal) -> Response:
    """After a change in the box: htmx gets the box, with the message if it was refused; a plain
    form post goes back to the event page, the message flashed there."""
    if is_htmx_request():
        return _box(event, refusal)
    if refusal:
        flash(refusal.message, "error")
    return redirect(url_for("events.show", slug=event.slug) + "#rsvp")


@bp.get("/e/<slug>/rsvp")
def box(slug):
    """The RSVP box, polled by the event page: 204 while nothing in it changed."""
    event = _visible_by_link(slug)
    context = rsvp_box_context(event)
    if is_htmx_request() and context.get("rsvp_state") and request.args.get("since") == context["rsvp_state"]:
        return Response(status=204)
    return _box(event)


@bp.post("/e/<slug>/rsvp")
@login_required
def answer(slug):
    event = _visible_by_link(slug)
    with refusal_kept() as refusal:
        # An account's "I'm going" is one tap: it follows too. The checkbox beside the buttons is
        # the consent to be shown among those going.
        rsvp_service.answer(current_user, event, request.form.get("answer", ""),
                            listed=request.form.get("listed") == "on")
    return _changed(event, refusal)


@bp.post("/events/<int:event_id>/rsvp/settings")
@login_required
def settings(event_id):
    """The organizer turns RSVPs on or off and sets the number of places (empty: no limit)."""
    # Not theirs (403) or no such event (404): the error page, before anything is read.
    event = event_service.get_event_for_organizer(current_user, event_id)
    with refusal_kept() as refusal:
        rsvp_service.set_capacity(current_user, event_id, _capacity(request.form.get("capacity", "")),
                                  enabled=request.form.get("enabled") == "on",
                                  show_guest_list=request.form.get("show_guest_list") == "on")
    return _changed(event, refusal)


def _capacity(raw: str) -> int | None:
    raw = raw.strip()
    if not raw:
        return None
    try:
        return int(raw)
    except ValueError:
        raise ValidationFailed.field(
            "capacity", _("Capacity must be a whole number of at least 1 (or empty for no limit).")) from None


@bp.get("/events/<int:event_id>/rsvps")
@login_required
def roster(event_id):
    event = event_service.get_event_for_organizer(current_user, event_id, Action.SEE_DELIVERIES)
    rows = rsvp_service.roster(current_user, event_id)
    return render_template("rsvp/roster.html", event=event, rows=rows, counts=rsvp_service.counts(event))


@bp.get("/events/<int:event_id>/rsvps.csv")
@login_required
def roster_csv(event_id):
    event = event_service.get_event_for_organizer(current_user, event_id, Action.SEE_DELIVERIES)
    body = rsvp_service.roster_csv(current_user, event_id)
    return Response(body, mimetype="text/csv",
                    headers={"Content-Disposition": f'attachment; filename="{event.slug}-rsvps.csv"'})


@bp.route("/r/<token>", methods=["GET", "POST"])
@link_page
def from_mail(token):
    """A one-tap answer link from a mail: opening it shows the answer it carries; only the
    button (a POST) records it."""
    return _link_page(token, rsvp_service.CHOICE_LABELS, "going", rsvp_service.answer_from_link)


@bp.route("/r/<token>/still-coming", methods=["GET", "POST"])
@link_page
def still_coming(token):
    """The still-coming check's links: "yes, still coming" or "can't make it", answered (as
    every mail link) only by the page's button."""
    return _link_page(token, rsvp_service.STILL_COMING_LABELS, rsvp_service.CONFIRM,
                      rsvp_service.still_coming_from_link, still_coming=True)


def _link_page(token: str, choices: dict[str, str], default: str, save, still_coming: bool = False):
    link = rsvp_service.from_link(token)
    form = FlaskForm()
    saved = None
    # The pressed button answers. The form posts back to this page's own URL, whose ?answer= (the
    # link's answer) only preselects a button: it must never stand in for the one pressed.
    chosen = request.form.get("answer", "") if request.method == "POST" else request.args.get("answer", default)
    with refusal_kept() as refusal:
        if form.validate_on_submit():
            rsvp = save(token, chosen)
            answer = rsvp_service.ANSWER_LABELS[rsvp.answer]
            saved = (_("Thanks! You're down as “%(answer)s” and still coming.", answer=answer)
                     if rsvp.still_coming_for == rsvp.event.starts_at
                     else _("Thanks! You're down as “%(answer)s”.", answer=answer))
            link = rsvp_service.from_link(token)
    event = link.event
    following = bool(link.user and (mine := subscription_service.find_mine(link.user, event))
                     and mine.status.value == "active")
    return render_template(
        "rsvp/link.html", form=form, event=event, when=when_text(event), email=link.email, following=following,
        current=rsvp_service.ANSWER_LABELS[link.current.answer] if link.current else None,
        choices=choices, chosen=chosen if chosen in choices else default, still_coming=still_coming,
        open=rsvp_service.is_open(event), saved=saved, problem=refusal.message,
    ), refusal.status


@bp.route("/r/offer/<token>", methods=["GET", "POST"])
@link_page
def offer(token):
    """The waitlist offer's accept link: the page says how long the place is held; the button takes it.
    An offer that is over says so beside its event; a link that names none is a link problem."""
    form = FlaskForm()
    with refusal_kept() as refusal:
        rsvp = rsvp_service.from_offer_token(token)
        if form.validate_on_submit():
            rsvp = rsvp_service.accept_offer(token)
        taken = rsvp.answer.value == "going"
        expires = when_text(rsvp.event, rsvp.offer_expires_at) if rsvp.offer_expires_at else ""
        return render_template("rsvp/offer.html", event=rsvp.event, taken=taken, expires=expires, form=form)
    event = _offer_event(token)
    if event is None:
        raise refusal.error
    return render_template("rsvp/offer.html", event=event, problem=refusal.message, form=form), refusal.status


def _offer_event(token: str):
    """The event an offer link is about, to show beside "this offer is over"."""
    try:
        rsvp_id, _ = unsign(current_app.config["SECRET_KEY"], LinkPurpose.RSVP_OFFER, token)
    except (LinkInvalid, TypeError, ValueError):
        return None
    rsvp = db.session.get(Rsvp, rsvp_id)
    return rsvp.event if rsvp else None
