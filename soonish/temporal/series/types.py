"""Data shared by the series materialization workflow, its activity and its schedule. No I/O imports."""
from dataclasses import dataclass

MATERIALIZE_SERIES = "materialize_series"


@dataclass
class SeriesRoundResult:
    made: int
    last_series_id: int
    done: bool


@dataclass
class SeriesRound:
    """The daily run's progress (rounds/workflow.py)."""

    after_series_id: int = 0  # series up to this id are done
    made_before: int = 0  # occurrences made by earlier rounds, for the result

    def after(self, result: SeriesRoundResult) -> "SeriesRound":
        return SeriesRound(result.last_series_id, self.made_before + result.made)
