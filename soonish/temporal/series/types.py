"""Data shared by the series materialization workflow, its activity and its schedule. No I/O imports."""
from dataclasses import dataclass

MATERIALIZE_SERIES = "materialize_series"


def series_schedule_id(prefix: str) -> str:
    return f"{prefix}soonish-series"


@dataclass
class SeriesRound:
    after_series_id: int = 0  # series up to this id are done (carried across rounds)
    made_before: int = 0  # occurrences made by earlier rounds, for the result


@dataclass
class SeriesRoundResult:
    made: int
    last_series_id: int
    done: bool
