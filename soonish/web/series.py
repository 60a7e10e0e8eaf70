"""Series pages: a series with its upcoming occurrences and a "Follow all" button, and its .ics."""
from flask import Blueprint, Response, current_app, flash, redirect, render_template, session, url_for
from flask_login import current_user, login_required

from soonish.domain import share
from soonish.i18n import _, current_locale
from soonish.links import public_url
from soonish.models import Series, Visibility
from soonish.services import ServiceError
from soonish.services import calendar as calendar_service
from soonish.services import series as series_service
from soonish.web.auth import current_user_or_none, one_click_link
from soonish.web.errors import link_page, refusal_flashed, refusal_kept
from soonish.web.htmx import redirect_to, render_page
from soonish.web.limits import subscribe_by_email_limit
from soonish.web.replicas import uses_primary
from soonish.web.subscriptions import EMAIL_FOLLOWS_KEPT, EmailSubscribeForm
from soonish.web.once import once_per_form
from soonish.web.share import image_url

bp = Blueprint("series", __name__)


@bp.app_template_global("series_of_event")
def series_of_event(event) -> dict | None:
    """For an occurrence's page: its series and the rule in words ("every Tuesday at 19:00")."""
    series = series_service.series_of(event)
    if series is None:
        return None
    return {"series": series, "summary": series_service.describe(series)}


def _event_url(event) -> str:
    return url_for("events.show", slug=event.slug, _external=True)


def visible_series_or_404(slug: str) -> Series:
    return series_service.get_visible_series(current_user_or_none(), slug=slug)


# Session key: series id → the address this browser asked to follow it with, so the box says
# "check your inbox" (only what this browser itself did, as the event page's EMAIL_FOLLOWS).
SERIES_EMAIL_FOLLOWS = "series_email_follows"


@bp.get("/series/<slug>")
def show(slug):
    return _page(visible_series_or_404(slug))


def _page(series: Series, email_form: EmailSubscribeForm | None = None) -> Response:
    viewer = current_user_or_none()
    summary = series_service.describe(series)
    upcoming = series_service.occurrences(series)
    page_url = public_url(current_app.config["PUBLIC_URL"], url_for("series.show", slug=series.slug))
    # A private series has no card, as a private event has none.
    card = [] if series.visibility == Visibility.PRIVATE else share.series_card_tags(
        series.title, summary, series.description, page_url, image_url(upcoming[0]) if upcoming else None)
    return render_page(
        "series/show.html", "series/_follow_box.html", series=series, summary=summary, upcoming=upcoming,
        following=viewer is not None and series_service.find_follow(viewer, series) is not None,
        card=card, canonical=page_url, email_form=email_form or EmailSubscribeForm(),
        email_follow_sent=None if email_form else session.get(SERIES_EMAIL_FOLLOWS, {}).get(str(series.id)),
        status=422 if email_form else 200,
    )


@bp.get("/series/<slug>.ics")
def ics(slug):
    series = visible_series_or_404(slug)
    body = calendar_service.series_calendar(series, url_for("series.show", slug=series.slug, _external=True), _event_url)
    return Response(body, mimetype="text/calendar",
                    headers={"Content-Disposition": f'attachment; filename="{series.slug}.ics"'})


@bp.post("/series/<slug>/follow")
@login_required
@once_per_form
def follow(slug):
    return _change_follow(slug, series_service.follow_series, (
        _("You follow every occurrence of this series, with the usual reminders. Leave one to skip it."), "success"))


@bp.post("/series/<slug>/follow-by-email")
@subscribe_by_email_limit()
@once_per_form
def follow_by_email(slug):
    """A visitor follows every occurrence with an address: the event page's form and its
    double opt-in (a confirm mail; nothing is stored before its link is opened)."""
    series = visible_series_or_404(slug)
    form = EmailSubscribeForm()
    if form.validate_on_submit():
        with refusal_kept(form):
            series_service.follow_series_by_email(series, form.email.data, locale=current_locale())
            follows = {**session.get(SERIES_EMAIL_FOLLOWS, {}), str(series.id): form.email.data.strip()}
            session[SERIES_EMAIL_FOLLOWS] = dict(list(follows.items())[-EMAIL_FOLLOWS_KEPT:])
            return redirect_to(url_for("series.show", slug=series.slug))
    return _page(series, form)


@bp.get("/series/follows/confirm/<token>")
@uses_primary  # opening the link follows
@link_page
def confirm_follow(token):
    series = series_service.confirm_series_follow(token)
    if str(series.id) in session.get(SERIES_EMAIL_FOLLOWS, {}):
        session[SERIES_EMAIL_FOLLOWS] = {k: v for k, v in session[SERIES_EMAIL_FOLLOWS].items() if k != str(series.id)}
    flash(_("You follow every occurrence of %(title)s, with reminders by email. Leave one from its mails to skip it.",
            title=series.title), "success")
    return redirect(url_for("series.show", slug=series.slug))


def leave_page(token):
    series, user = series_service.series_to_leave(token)
    return render_template("series/leave.html", series=series, user=user, token=token,
                           following=series_service.find_follow(user, series) is not None)


def leave(token):
    series = series_service.leave_series_by_token(token)
    return render_template("series/leave.html", series=series, token=token, following=False, left=True)


# As a mail's unsubscribe link: opening it asks, its button leaves; the signed token is the proof.
one_click_link(bp, "/series/leave/<token>", leave_page, leave)


@bp.post("/series/<slug>/unfollow")
@login_required
@once_per_form
def unfollow(slug):
    return _change_follow(slug, series_service.unfollow_series, (_("You no longer follow this series."), "info"))


def _change_follow(slug: str, change, done: tuple[str, str]) -> Response:
    """Follow or leave the series as ``change`` does; say how it went on the series page. By its
    link, as the page: an unlisted series is followed from its page."""
    series = visible_series_or_404(slug)
    # Every refusal, also "You don't follow this series" (a NotFound), is said on the series page.
    with refusal_flashed(ServiceError):
        change(current_user, slug=slug)
        flash(*done)
    return redirect(url_for("series.show", slug=series.slug))
