"""Size limits that the database columns, the forms, the API schemas and the services share:
each in one place."""

# An event's title and a notification's (announcement headline, reminder line).
TITLE_MAX = 200
# Where an event takes place.
LOCATION_MAX = 300
# An event's http(s) link to join online.
ONLINE_URL_MAX = 500
# A person's display name (their own, or the name a chat platform gives us).
DISPLAY_NAME_MAX = 120
BIO_MAX = 280
# An event's places for "going" (RSVPs); no limit is None.
CAPACITY_MAX = 1_000_000
# How a chat platform names an account or a workspace (Slack allows 80 characters, Discord 32).
CHAT_NAME_MAX = 120
# A recurring series' rule (an RFC 5545 RRULE, without DTSTART).
SERIES_RULE_MAX = 200
# How many occurrences a series may have, and how long after its first it must end: a series
# always ends (UNTIL or COUNT), so its .ics and its rolling materialization stay bounded.
SERIES_COUNT_MAX = 104
SERIES_SPAN_MAX_DAYS = 731
# "Every N weeks / months": N at most this.
SERIES_INTERVAL_MAX = 12
# The "still coming?" check's lead time, in whole hours before the start (a week at most: further
# ahead nobody knows yet).
STILL_COMING_HOURS_MIN = 1
STILL_COMING_HOURS_MAX = 7 * 24
STILL_COMING_HOURS_DEFAULT = 24
# An event's or a series' slug: the address part of its link (links.new_slug makes 67 at most).
SLUG_MAX = 96
# A community's name, and its slug (the /c/<slug> address part, chosen or made from its name).
COMMUNITY_NAME_MAX = 120
COMMUNITY_SLUG_MAX = 60
COMMUNITY_DESCRIPTION_MAX = 5000
# An event's details (its page, mails and cards carry them).
EVENT_DESCRIPTION_MAX = 10_000
# A channel's Apprise URL as typed: longer than any real service's URL needs.
CHANNEL_URL_MAX = 2048
# An integrator's webhook endpoint: its URL, and what its owner calls it.
ENDPOINT_URL_MAX = 2000
ENDPOINT_DESCRIPTION_MAX = 200
# A password: longer is a paste gone wrong, or an attempt to make hashing expensive.
PASSWORD_MAX = 200
# An event's language tag (BCP 47, "pt-BR"; RFC 5646 advises room for 35 characters).
LANGUAGE_TAG_MAX = 35
