"""`create <title> <when>` from chat: where the title ends and the time begins, read at a fixed
"now" (Wednesday 2 December 2026, 15:00 in New York) so every phrasing has one right answer."""
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from soonish.services.chat_organizer import Reading, read_title_and_when

NEW_YORK = ZoneInfo("America/New_York")
NOW = datetime(2026, 12, 2, 15, 0, tzinfo=NEW_YORK)


def at(month: int, day: int, hour: int, minute: int = 0, year: int = 2026) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=NEW_YORK)


@pytest.mark.parametrize("typed, title, starts_at", [
    # Phrasings dateparser reads, taken whole (the first used to make "Board games a week from").
    ("Board games a week from tomorrow 8am", "Board games", at(12, 10, 8)),
    ("Picnic next friday evening", "Picnic", at(12, 4, 18)),
    ("Dinner in two weeks at 18:30", "Dinner", at(12, 16, 18, 30)),
    ("Team lunch tomorrow 7pm", "Team lunch", at(12, 3, 19)),
    ("Retro fri 18:30", "Retro", at(12, 4, 18, 30)),
    ("Review next monday at noon", "Review", at(12, 7, 12)),
    ("Carols dec 24 7pm", "Carols", at(12, 24, 19)),
    ("Check-in in 3 hours", "Check-in", at(12, 2, 18)),
    ("Lunch noon next friday", "Lunch", at(12, 4, 12)),
    ("Drinks 7pm in 2 days", "Drinks", at(12, 4, 19)),
    ("May day party may 1 8pm", "May day party", at(5, 1, 20, year=2027)),
    ("Sunday brunch sunday 11am", "Sunday brunch", at(12, 6, 11)),
    # A title's last word that dateparser would swallow stays the title's: it reads "A tomorrow
    # 7pm" as 15:00 tomorrow, dropping the 7pm the shorter ending named.
    ("Team lunch A tomorrow 7pm", "Team lunch A", at(12, 3, 19)),
    ("Party 2 tomorrow 7pm", "Party 2", at(12, 3, 19)),
    ("Room 101 tomorrow 7pm", "Room 101", at(12, 3, 19)),
    # A number that doesn't move the time is the title's.
    ("Sprint 2 in 3 hours", "Sprint 2", at(12, 2, 18)),
    ("Launch 2026 dec 24 7pm", "Launch 2026", at(12, 24, 19)),
])
def test_the_longest_ending_read_as_a_time_is_the_time(typed, title, starts_at):
    assert read_title_and_when(typed, "America/New_York", NOW) == [Reading(title, starts_at)]


@pytest.mark.parametrize("typed, readings", [
    # 42 may be the title's or the year (dateparser reads 2042); 7 the title's or the day.
    ("Meeting 42 fri 18:30", [Reading("Meeting", at(12, 2, 18, 30, year=2042)),
                              Reading("Meeting 42", at(12, 4, 18, 30))]),
    ("Party 7 dec 8pm", [Reading("Party", at(12, 7, 20)), Reading("Party 7", at(12, 2, 20))]),
])
def test_a_number_that_moves_the_time_gives_both_readings(typed, readings):
    assert read_title_and_when(typed, "America/New_York", NOW) == readings


@pytest.mark.parametrize("typed", ["Party someday", "Party", "Party soon"])
def test_no_time_after_a_title_gives_no_reading(typed):
    assert read_title_and_when(typed, "America/New_York", NOW) == []


def test_times_are_read_in_the_organizers_zone():
    [reading] = read_title_and_when("Standup tomorrow 9am", "Asia/Tokyo", NOW)
    assert reading == Reading("Standup", datetime(2026, 12, 4, 9, 0, tzinfo=ZoneInfo("Asia/Tokyo")))
