"""Size limits that the database, the forms, the API and the services share: one place each."""

# An event's title and a notification's (announcement headline, reminder line): String(200).
TITLE_MAX = 200
