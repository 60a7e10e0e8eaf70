"""Recurring series over JSON: create, read, change, cancel; follow every occurrence; edit one
occurrence or it and the following ones."""
from flask_login import current_user

from soonish.i18n import current_locale
from soonish.services import NotFound, ValidationFailed
from soonish.services import events as event_service
from soonish.services import lists
from soonish.services import series as series_service
from soonish.web.auth import current_user_or_none
from soonish.web.limits import subscribe_by_email_limit
from soonish.web.api.access import authorized, optionally_authorized, signed_in_or_email
from soonish.web.api.base import ApiBlueprint
from soonish.web.api.paging import LINK_HEADER, PageArgs, page_schema, paged
from soonish.web.api.schemas import (
    CancelIn, EventOut, OccurrenceEditIn, SeriesFollowIn, SeriesFollowOut, SeriesIn, SeriesOut, SeriesPatch,
)

bp = ApiBlueprint("api_series", __name__, url_prefix="/api/v1/series", description="Recurring series")

SeriesPage = page_schema(SeriesOut, "SeriesPage")
OccurrencePage = page_schema(EventOut, "OccurrencePage")


@bp.get("", query=PageArgs, response=SeriesPage, headers=LINK_HEADER, errors=[422])
def list_series(args):
    """Active public series, newest first, a page at a time."""
    return paged(lists.public_series(args["limit"], args.get("cursor")))


@bp.post("", access=authorized("events:write"), body=SeriesIn, status=201, response=SeriesOut, errors=[400, 404])
def create_series(data):
    """Make a recurring series; its occurrences of the coming weeks are made at once as events
    (each with its own page, reminders and RSVPs), later ones as time goes on."""
    community_id = data.pop("community_id", None)
    return series_service.create_series(current_user, series_service.SeriesFields(**data), community_id)


@bp.get("/<int:series_id>", access=optionally_authorized("events:read"), response=SeriesOut, errors=[404])
def get_series(series_id):
    """A series by id. An unlisted one answers 404 here to all but its organizer and those who
    follow it: read it by its link with `GET /series/by-slug/{slug}`."""
    return series_service.get_visible_series(current_user_or_none(), series_id=series_id)


@bp.get("/by-slug/<slug:slug>", access=optionally_authorized("events:read"), response=SeriesOut, errors=[404])
def get_series_by_link(slug):
    """A series by its link (`/series/{slug}`): how anyone who was given an unlisted series' link reads it."""
    return series_service.get_visible_series(current_user_or_none(), slug=slug)


@bp.patch("/<int:series_id>", access=authorized("events:write"), body=SeriesPatch, response=SeriesOut,
          errors=[400, 404, 409])
def update_series(data, series_id):
    """Change the series from its next occurrence on. Once some occurrences are past, the
    answer is a new series (new id) carrying on from the next one; the old one ends before it."""
    return series_service.update_series(current_user, series_id, data)


@bp.delete("/<int:series_id>", access=authorized("events:write"), response=SeriesOut, errors=[404, 409])
@bp.arguments(CancelIn, required=False)
def cancel_series(data, series_id):
    """Cancel the series: no more occurrences, and each upcoming one is cancelled (its followers are told)."""
    return series_service.cancel_series(current_user, series_id, data["reason"])


@bp.get("/<int:series_id>/occurrences", access=optionally_authorized("events:read"), query=PageArgs,
        response=OccurrencePage, headers=LINK_HEADER, errors=[404, 422])
def occurrences(args, series_id):
    """The occurrences made so far that are still ahead, soonest first, a page at a time."""
    series = series_service.get_visible_series(current_user_or_none(), series_id=series_id)
    return paged(lists.series_occurrences(series, args["limit"], args.get("cursor")))


@bp.patch("/<int:series_id>/occurrences/<int:event_id>", access=authorized("events:write"), body=OccurrenceEditIn,
          response=EventOut, errors=[400, 404, 409])
def edit_occurrence(data, series_id, event_id):
    """Edit one occurrence (`scope: this`), or it and all following ones (`scope: following`).
    The answer is the occurrence as it is now."""
    event = event_service.get_event_for_organizer(current_user, event_id)
    if event.series_id != series_id:
        raise NotFound("No such occurrence in this series.")
    scope = data.pop("scope")
    if scope == "this":
        if "rrule" in data:
            raise ValidationFailed.field("rrule", "The rule belongs to the series: use scope `following`.")
        return event_service.update_event(current_user, event_id, data)
    series_service.edit_following(current_user, event_id, data, series_id)
    return event_service.get_visible_event(current_user, event_id=event_id)


def answers_pending_or_unchanged(view):
    """Following by id and by link answer alike: 201 when followed now, and these two."""
    view = bp.alt_response(202, schema=SeriesFollowOut, description="Pending: a confirm link was mailed")(view)
    return bp.alt_response(200, schema=SeriesFollowOut,
                           description="Already following: the choices given apply from now on")(view)


@bp.post("/<int:series_id>/follow", access=optionally_authorized("subscriptions:write"), body=SeriesFollowIn,
         status=201, response=SeriesFollowOut, errors=[400, 404])
@answers_pending_or_unchanged
@subscribe_by_email_limit()
def follow(data, series_id):
    """Follow every occurrence, with these channels and reminder offsets: each occurrence made
    so far or later gets a subscription of its own (leave one to skip it). Anonymous: give
    `email`; a confirm mail is sent (202), and its link follows (nothing is stored before).
    An unlisted series answers 404 by id (but to its organizer and followers): follow it by its
    link with `POST /series/by-slug/{slug}/follow`."""
    return _follow(data, series_id=series_id)


@bp.post("/by-slug/<slug:slug>/follow", access=optionally_authorized("subscriptions:write"), body=SeriesFollowIn,
         status=201, response=SeriesFollowOut, errors=[400, 404])
@answers_pending_or_unchanged
@subscribe_by_email_limit()
def follow_by_link(data, slug):
    """Follow the series its link (`/series/{slug}`) names, an unlisted one too; as `POST /series/{series_id}/follow`."""
    return _follow(data, slug=slug)


def _follow(data, series_id: int | None = None, slug: str | None = None):
    user = signed_in_or_email(data)
    if user is None:
        series = series_service.get_visible_series(None, series_id=series_id, slug=slug)
        # The confirm mail is written in the language the request asks for (Accept-Language).
        series_service.follow_series_by_email(series, data["email"], locale=current_locale())
        return {"series_id": series.id, "status": "pending"}, 202
    follow, is_new = series_service.follow_series(user, series_id, data.get("selectors"),
                                                  data.get("reminder_offsets"), slug=slug)
    return follow, 201 if is_new else 200


@bp.delete("/<int:series_id>/follow", access=authorized("subscriptions:write"), status=204, errors=[404])
def unfollow(series_id):
    """Stop following: the subscriptions to upcoming occurrences end, and later ones get none."""
    series_service.unfollow_series(current_user, series_id)
