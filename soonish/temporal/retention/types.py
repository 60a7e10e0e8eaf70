"""Data shared by the retention workflow, its activity and its schedule. No I/O imports."""
from dataclasses import dataclass

PRUNE_LEDGER = "prune_ledger"


def retention_schedule_id(prefix: str) -> str:
    return f"{prefix}soonish-retention"


@dataclass
class LedgerPruneRound:
    deleted_before: int = 0  # carried across continue-as-new, for the result


@dataclass
class LedgerPruneResult:
    deleted: int
    done: bool
