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
# An event's places for "going" (RSVPs); no limit is None.
CAPACITY_MAX = 1_000_000
# How a chat platform names an account or a workspace (Slack allows 80 characters, Discord 32).
CHAT_NAME_MAX = 120
