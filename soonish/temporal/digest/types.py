"""Data shared by the community digest workflow, its activity and its schedule. No I/O imports."""
from dataclasses import dataclass

SEND_DIGESTS = "send_digests"


@dataclass
class DigestRoundResult:
    sent: int
    last_community_id: int
    done: bool


@dataclass
class DigestRound:
    """The daily run's progress (rounds/workflow.py)."""

    # The day mailed for (ISO date, UTC): set from the run's start, so every round of a run
    # that goes on past midnight, and a run continued as new, mails for the same day.
    day: str = ""
    after_community_id: int = 0  # communities up to this id are done
    sent_before: int = 0  # mails left by earlier rounds, for the result

    def after(self, result: DigestRoundResult) -> "DigestRound":
        return DigestRound(self.day, result.last_community_id, self.sent_before + result.sent)
