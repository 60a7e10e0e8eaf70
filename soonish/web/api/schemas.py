"""Request and response shapes of the JSON API (marshmallow, documented in the OpenAPI)."""
from flask import url_for
from flask_login import current_user
from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from soonish.domain.communities import Action, may
from soonish.domain.chat_markup import PLATFORMS
from soonish.field_limits import (
    CHANNEL_URL_MAX, DISPLAY_NAME_MAX, EVENT_DESCRIPTION_MAX, LANGUAGE_TAG_MAX, PASSWORD_MAX, LOCATION_MAX, ONLINE_URL_MAX, SERIES_COUNT_MAX, SERIES_INTERVAL_MAX, SERIES_RULE_MAX,
    SERIES_SPAN_MAX_DAYS, STILL_COMING_HOURS_MAX, STILL_COMING_HOURS_MIN, TITLE_MAX,
)
from soonish.models import DeliveryStatus, IntegrationState, Visibility
from soonish.services.channel_types import BY_KEY as CHANNEL_TYPES_BY_KEY
from soonish.services.events import CANCEL_REASON_MAX, FURTHEST_AHEAD_YEARS, START_GRACE, zone_names
from soonish.services.notifications import BODY_MAX, RECIPIENTS_PER_PAGE, RECIPIENTS_PER_PAGE_MAX
from soonish.services.offsets import MAX_OFFSET, MIN_OFFSET
from soonish.services.rsvp import counts as rsvp_counts
from soonish.services.series import describe as describe_series
from soonish.services.series import occurrences
from soonish.services.accounts import MIN_PASSWORD_LENGTH
from soonish.web.api.idempotency import ShownOnce

VISIBILITIES = [v.value for v in Visibility]
CHANNEL_TYPES = sorted(CHANNEL_TYPES_BY_KEY)
# Listed in the OpenAPI document, so clients (and the fuzzer) know the valid names.
TIMEZONES = validate.OneOf(sorted(zone_names()), error="Unknown time zone; use an IANA name like Europe/Paris.")
START_RULE = (f"ISO 8601; without an offset it is read in `timezone`. From now ({START_GRACE.seconds // 60} minutes "
              f"of grace) to {FURTHEST_AHEAD_YEARS} years ahead; an event's own past start may be sent back unchanged.")
TITLE_RULES = [validate.Length(min=1, max=TITLE_MAX), validate.Regexp(r"^\s*\S", error="A title is required.")]


class MessageOut(Schema):
    message = fields.String()


EMAIL_RULES = {"validate": validate.Length(max=254), "metadata": {"description": "An address that can receive mail: special-use domains (.test, .invalid, .localhost, .example, ...) are refused with 422."}}


class RegisterIn(Schema):
    email = fields.Email(required=True, **EMAIL_RULES)
    password = fields.String(required=True, validate=validate.Length(min=MIN_PASSWORD_LENGTH, max=PASSWORD_MAX))
    display_name = fields.String(load_default="", validate=validate.Length(max=DISPLAY_NAME_MAX))


class TokenIn(Schema):
    email = fields.String(required=True)
    password = fields.String(required=True)


class TokenOut(Schema):
    access_token = ShownOnce()
    token_type = fields.String()
    expires_in = fields.Integer()


class UserOut(Schema):
    id = fields.Integer()
    email = fields.String(allow_none=True)
    display_name = fields.String()


class EventPatch(Schema):
    """Any subset of an event's fields; absent ones stay as they are. `ends_at`, when given,
    must be after `starts_at` (else 422 naming `ends_at`)."""

    title = fields.String(validate=TITLE_RULES)
    description = fields.String(validate=validate.Length(max=EVENT_DESCRIPTION_MAX))
    location = fields.String(validate=validate.Length(max=LOCATION_MAX))
    starts_at = fields.DateTime(metadata={"description": START_RULE})
    ends_at = fields.DateTime(allow_none=True)
    timezone = fields.String(validate=TIMEZONES, metadata={"description": "IANA zone, e.g. Europe/Paris"})
    visibility = fields.String(validate=validate.OneOf(VISIBILITIES))
    online_url = fields.String(validate=validate.Length(max=ONLINE_URL_MAX),
                               metadata={"description": "http(s) link to join online; empty for none"})
    show_follower_count = fields.Boolean(metadata={"description": "Show the follower count on the public page"})
    language = fields.String(allow_none=True, validate=validate.Length(max=LANGUAGE_TAG_MAX), metadata={
        "description": "BCP 47 tag of the language the title and description are written in (en, de, pt-BR), "
                       "set on them for screen readers; null: not said. The page's own words follow the reader."})
    still_coming_check = fields.Boolean(metadata={
        "description": "Ask those going, `still_coming_hours` before the start, whether they're still coming "
                       "(\"can't make it\" frees their place for the waitlist). Off by default."})
    still_coming_hours = fields.Integer(strict=True, validate=validate.Range(min=STILL_COMING_HOURS_MIN, max=STILL_COMING_HOURS_MAX),
                                        metadata={"description": "Hours before the start the still-coming check goes out (default 24)."})


def community_field():
    return fields.Integer(strict=True, validate=validate.Range(min=1), metadata={
        "description": "The community it belongs to, which the caller must host (owner, admin or host); "
                       "by default the caller's personal community."})


class EventIn(EventPatch):
    title = fields.String(required=True, validate=TITLE_RULES)
    starts_at = fields.DateTime(required=True, metadata={"description": START_RULE})
    community_id = community_field()


def _organizer_rsvp_counts(event):
    if not (event.rsvp_enabled and may(current_user, Action.SEE_DELIVERIES, event)):
        return None
    return rsvp_counts(event).as_dict()


class PublishedOut(Schema):
    """What an event and a series both show (models.event.Published)."""

    id = fields.Integer()
    slug = fields.String()
    title = fields.String()
    description = fields.String()
    location = fields.String()
    timezone = fields.String()
    visibility = fields.Function(lambda published: published.visibility.value)
    organizer_id = fields.Integer(metadata={"description": "Who created it."})


class EventOut(PublishedOut):
    starts_at = fields.DateTime()
    ends_at = fields.DateTime(allow_none=True)
    online_url = fields.Method("online_url_for_viewer", allow_none=True,
                               metadata={"description": "Shown to the organizer only (followers see it on the page near the start)"})
    show_follower_count = fields.Boolean()
    language = fields.String(allow_none=True)
    status = fields.Function(lambda e: e.status.value)
    cancel_reason = fields.String(allow_none=True, metadata={"description": "Why it was cancelled, when the organizer said."})
    version = fields.Integer()
    community_id = fields.Integer(allow_none=True, metadata={"description": "The community it belongs to: its "
                                                                            "members' roles decide who may change it."})
    url = fields.Function(lambda e: url_for("events.show", slug=e.slug, _external=True))
    rsvp_enabled = fields.Boolean()
    capacity = fields.Integer(allow_none=True)
    still_coming_check = fields.Boolean()
    still_coming_hours = fields.Integer()
    rsvp_counts = fields.Function(
        _organizer_rsvp_counts, allow_none=True,
        metadata={"description": "For the organizer: going (of whom confirmed: said yes to the still-coming check), "
                                 "maybe, no, waitlisted, no_answer, capacity, places_held (offered to the waitlist, not "
                                 "taken yet), places_left (capacity less going and held)."},
    )
    series_id = fields.Integer(allow_none=True, metadata={"description": "The recurring series it is an occurrence of."})
    occurrence_start = fields.DateTime(
        allow_none=True, metadata={"description": "An occurrence's original start (its RECURRENCE-ID); it never moves."})

    def online_url_for_viewer(self, event):
        return event.online_url if may(current_user, Action.VIEW_PRIVATE, event) else None


class SelectorSchema(Schema):
    """One route of a follow: exactly one of these."""

    integration_id = fields.Integer(allow_none=True)
    tag = fields.String(allow_none=True, validate=validate.Length(min=1, max=40))
    chat_identity_id = fields.Integer(allow_none=True, metadata={
        "description": "A chat account's DMs (GET /api/v1/chat-accounts)"})


class OffsetField(fields.Field):
    """A reminder offset: seconds (int) or a human form such as "1d", "2h", "15m"."""

    def __init__(self, **kwargs) -> None:
        # Documented as what it takes: the OpenAPI item type is one of these two.
        kwargs.setdefault("metadata", {}).update({"oneOf": [
            {"type": "integer", "minimum": MIN_OFFSET, "maximum": MAX_OFFSET, "description": "seconds before the start"},
            {"type": "string", "pattern": r"^\s*\d{1,6}\s*[wdhmWDHM]\s*$", "example": "2h",
             "description": "weeks, days, hours or minutes before the start"},
        ]})
        super().__init__(**kwargs)

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, bool) or not isinstance(value, (int, str)):
            raise ValidationError("Use seconds or a form like 1d, 2h, 15m.")
        return value


class SubscribeIn(Schema):
    email = fields.String(validate=validate.Length(max=254), metadata={
        "description": "Without a token: follow by email (a confirm mail is sent). " + "An address that can receive mail: special-use domains (.test, .invalid, .localhost, .example, ...) are refused with 422."})
    name = fields.String(validate=validate.Length(max=DISPLAY_NAME_MAX), metadata={
        "description": "Without a token: what to call a new address (an address already known keeps its name)."})
    going = fields.Boolean(load_default=False, metadata={
        "description": "Without a token: \"I'm going\" as well, answered when the confirm link is opened (the "
                       "confirm mail is then the ticket); 409 where the event takes no answers. With a token, "
                       "answer with `PUT /events/{event_id}/rsvp`, which follows the event too."})
    listed = fields.Boolean(load_default=False, metadata={
        "description": "With `going`: the name may show among those going on the event page."})
    selectors = fields.List(fields.Nested(SelectorSchema))
    reminder_offsets = fields.List(OffsetField(), metadata={"description": 'e.g. [86400, "1h"]'})


class SubscriptionPatch(Schema):
    selectors = fields.List(fields.Nested(SelectorSchema))
    reminder_offsets = fields.List(OffsetField())


class SubscriptionOut(Schema):
    id = fields.Integer()
    event_id = fields.Integer()
    status = fields.Function(lambda s: s.status.value)
    reminder_offsets = fields.List(fields.Integer())
    selectors = fields.Function(
        lambda s: [
            {"integration_id": sel.integration_id, "tag": sel.tag, "chat_identity_id": sel.chat_identity_id}
            for sel in s.selectors
        ]
    )
    created_at = fields.DateTime()


CHANNEL_NAME_RULES = validate.Length(max=80)
CHANNEL_TAG_RULES = {"validate": validate.Length(max=40),
                     "metadata": {"description": "letters, digits, - or _, e.g. urgent; empty for none"}}


class IntegrationIn(Schema):
    """Either ``url`` (a raw Apprise URL) or ``type`` + ``fields`` (see GET /api/v1/channel-types)."""

    name = fields.String(load_default="", validate=CHANNEL_NAME_RULES,
                         metadata={"description": "Required with url; with type, defaults to the type's label"})
    url = fields.String(load_only=True, validate=validate.Length(max=CHANNEL_URL_MAX),
                        metadata={"description": "Apprise URL; never shown back"})
    type = fields.String(validate=validate.OneOf(CHANNEL_TYPES), metadata={"description": "A channel type's key"})
    field_values = fields.Dict(keys=fields.String(validate=validate.Length(max=40)),
                               values=fields.String(validate=validate.Length(max=500)), load_only=True,
                               data_key="fields",
                               metadata={"description": "The type's field values by name; secrets are never shown back"})
    tag = fields.String(load_default="", **CHANNEL_TAG_RULES)

    @validates_schema
    def url_or_type(self, data, **_kwargs):
        if ("url" in data) == ("type" in data):
            raise ValidationError("Give either url (a raw Apprise URL) or type and fields.", "url")


class IntegrationPatch(Schema):
    name = fields.String(validate=CHANNEL_NAME_RULES)
    url = fields.String(load_only=True, validate=validate.Length(max=CHANNEL_URL_MAX))
    tag = fields.String(**CHANNEL_TAG_RULES)
    is_active = fields.Boolean()


class IntegrationOut(Schema):
    id = fields.Integer()
    name = fields.String()
    url_mask = fields.String(metadata={"description": "scheme and host only"})
    channel = fields.String()
    tag = fields.String()
    is_active = fields.Boolean()
    state = fields.String(validate=validate.OneOf(IntegrationState.ALL), metadata={
        "description": "active; paused (is_active false); waiting_for_verification: an email channel that gets "
                       "nothing until its address opens the link we mailed (POST …/resend-verification for another)",
    })
    email = fields.String(attribute="email_address", allow_none=True,
                          metadata={"description": "An email channel's address; null for any other channel"})
    created_at = fields.DateTime()


class ChatAccountOut(Schema):
    id = fields.Integer(metadata={"description": "Route a follow here with the selector {\"chat_identity_id\": id}"})
    platform = fields.String(validate=validate.OneOf(list(PLATFORMS)))
    handle = fields.String(metadata={"description": "How the platform names the account; may be empty"})
    workspace_name = fields.String(metadata={"description": "The Slack workspace; empty on Discord"})
    label = fields.String(metadata={"description": "e.g. Slack: @alice in acme workspace"})
    created_at = fields.DateTime()


class ConnectCodeIn(Schema):
    platform = fields.String(required=True, validate=validate.OneOf(list(PLATFORMS)),
                             metadata={"description": "Only a platform whose bot runs here"})


class ConnectCodeOut(Schema):
    platform = fields.String()
    code = ShownOnce(metadata={"description": "One-time, e.g. ABCD-2345."})
    command = ShownOnce(metadata={"description": "What to type in the chat, e.g. /soonish connect ABCD-2345."})
    expires_at = fields.DateTime()


class TestResultOut(Schema):
    delivered = fields.Boolean()
    error = fields.String(allow_none=True)


class CancelIn(Schema):
    reason = fields.String(
        load_default="", validate=validate.Length(max=CANCEL_REASON_MAX),
        metadata={"description": "Why, in the organizer's words; sent to every follower with the news."},
    )


class AnnouncementIn(Schema):
    title = fields.String(required=True, validate=validate.Length(max=TITLE_MAX))
    body = fields.String(load_default="", validate=validate.Length(max=BODY_MAX))


class NotificationOut(Schema):
    id = fields.Integer()
    kind = fields.Function(lambda n: n.kind.value)
    title = fields.String()
    body = fields.String()
    created_at = fields.DateTime()
    paused_at = fields.DateTime(allow_none=True, metadata={
        "description": "Set while the message is paused: its first mails bounced too often. Resume or cancel the rest."})
    resumed_at = fields.DateTime(allow_none=True, metadata={
        "description": "When its organizer resumed it (or, with paused_at still set, cancelled the rest)."})


class NotificationReportOut(Schema):
    notification = fields.Nested(NotificationOut)
    counts = fields.Dict(keys=fields.String(), values=fields.Integer())
    failures = fields.Function(lambda r: [{"reason": reason, "count": count} for reason, count in r.failures])


class RecipientsArgs(Schema):
    status = fields.String(validate=validate.OneOf([s.value for s in DeliveryStatus]),
                           metadata={"description": "Only deliveries with this outcome."})
    page = fields.Integer(load_default=1, validate=validate.Range(min=1, max=2**31 - 1))
    per_page = fields.Integer(load_default=RECIPIENTS_PER_PAGE, validate=validate.Range(min=1, max=RECIPIENTS_PER_PAGE_MAX))


class RecipientOut(Schema):
    follower = fields.String(metadata={"description": "Display name, or the email address masked (a•••@example.com)."})
    channel = fields.String()
    status = fields.String()
    attempts = fields.Integer()
    sent_at = fields.DateTime(allow_none=True)
    last_error = fields.String(allow_none=True)


class RecipientsOut(Schema):
    items = fields.List(fields.Nested(RecipientOut), attribute="rows")
    total = fields.Integer()
    page = fields.Integer()
    per_page = fields.Integer()


RRULE_RULE = (
    f"An RFC 5545 RRULE (no DTSTART; at most {SERIES_RULE_MAX} characters): FREQ=WEEKLY with BYDAY=MO,TH "
    f"or FREQ=MONTHLY with BYDAY=2TU (or BYDAY=TU;BYSETPOS=2, -1 for the last) or BYMONTHDAY=15; INTERVAL up to "
    f"{SERIES_INTERVAL_MAX}. It must end: UNTIL=YYYYMMDD (a local date) or COUNT up to {SERIES_COUNT_MAX}, within "
    f"{SERIES_SPAN_MAX_DAYS} days of the first occurrence. Other parts (BYHOUR, FREQ=DAILY, ...) are refused "
    "with 422 naming `rrule`."
)


class SeriesPatch(Schema):
    """Any subset of a series' fields. `starts_at`/`ends_at` are the first changed occurrence's
    times: their time of day becomes the series'."""

    title = fields.String(validate=TITLE_RULES)
    description = fields.String(validate=validate.Length(max=EVENT_DESCRIPTION_MAX))
    location = fields.String(validate=validate.Length(max=LOCATION_MAX))
    starts_at = fields.DateTime(metadata={"description": START_RULE})
    ends_at = fields.DateTime(allow_none=True)
    visibility = fields.String(validate=validate.OneOf(VISIBILITIES))
    online_url = fields.String(validate=validate.Length(max=ONLINE_URL_MAX),
                               metadata={"description": "http(s) link to join online; empty for none"})
    rrule = fields.String(validate=validate.Length(min=1, max=SERIES_RULE_MAX + len("RRULE:")),
                          metadata={"description": RRULE_RULE, "example": "FREQ=WEEKLY;BYDAY=TU;COUNT=10"})


class SeriesIn(SeriesPatch):
    title = fields.String(required=True, validate=TITLE_RULES)
    community_id = community_field()
    starts_at = fields.DateTime(required=True, metadata={
        "description": "The first occurrence's start (moved to the rule's first instance on or after it). " + START_RULE})
    rrule = fields.String(required=True, validate=validate.Length(min=1, max=SERIES_RULE_MAX + len("RRULE:")),
                          metadata={"description": RRULE_RULE, "example": "FREQ=WEEKLY;BYDAY=TU;COUNT=10"})
    timezone = fields.String(load_default="UTC", validate=TIMEZONES, metadata={
        "description": "IANA zone, e.g. Europe/Paris: occurrences keep their wall-clock time in it across daylight-saving changes"})


class OccurrenceEditIn(SeriesPatch):
    scope = fields.String(required=True, validate=validate.OneOf(["this", "following"]), metadata={
        "description": "`this`: only this occurrence (`rrule` not allowed); `following`: this one and all after it "
        "(the series ends before it and a new series with the same followers carries on)."})


class OccurrenceOut(Schema):
    id = fields.Integer()
    slug = fields.String()
    starts_at = fields.DateTime()
    ends_at = fields.DateTime(allow_none=True)
    occurrence_start = fields.DateTime()
    status = fields.Function(lambda e: e.status.value)
    title = fields.String()
    url = fields.Function(lambda e: url_for("events.show", slug=e.slug, _external=True))


class SeriesOut(PublishedOut):
    starts_at = fields.DateTime(metadata={"description": "The first occurrence's start."})
    duration_seconds = fields.Integer(allow_none=True)
    rrule = fields.String()
    summary = fields.Function(describe_series, metadata={"description": "In words, e.g. \"every Tuesday at 19:00\"."})
    status = fields.Function(lambda s: s.status.value)
    community_id = fields.Integer(allow_none=True)
    url = fields.Function(lambda s: url_for("series.show", slug=s.slug, _external=True))
    ics_url = fields.Function(lambda s: url_for("series.ics", slug=s.slug, _external=True))
    upcoming = fields.Function(lambda s: OccurrenceOut(many=True).dump(occurrences(s)), metadata={"description": "The occurrences made so far that are still ahead."})


class SeriesFollowIn(Schema):
    email = fields.String(validate=validate.Length(max=254), metadata={
        "description": "Without a token: follow by email (a confirm mail is sent; its link follows). "
                       "An address that can receive mail: special-use domains (.test, .invalid, .localhost, "
                       ".example, ...) are refused with 422."})
    selectors = fields.List(fields.Nested(SelectorSchema))
    reminder_offsets = fields.List(OffsetField(), metadata={"description": 'e.g. [86400, "1h"]'})


class SeriesFollowOut(Schema):
    series_id = fields.Integer()
    # A follow by email is `pending` (only the series is given) until its confirm link is
    # opened: nothing is stored before.
    status = fields.String(dump_default="active", validate=validate.OneOf(["active", "pending"]))
    selectors = fields.List(fields.Dict())
    reminder_offsets = fields.List(fields.Integer())
    created_at = fields.DateTime()
