"""Data shared by the retention workflow, its activity and its schedule. No I/O imports."""
from dataclasses import dataclass

PRUNE_LEDGER = "prune_ledger"


@dataclass
class LedgerPruneResult:
    deleted: int
    done: bool


@dataclass
class LedgerPruneRound:
    """A prune's progress (rounds/workflow.py): each round prunes what is old enough, wherever."""

    deleted_before: int = 0  # by earlier rounds, for the result

    def after(self, result: LedgerPruneResult) -> "LedgerPruneRound":
        return LedgerPruneRound(self.deleted_before + result.deleted)
