"""The community digest workflow, started daily by the `soonish-digest` schedule: it calls the
activity, round after round, until every community whose digest day it is has mailed its
digest followers (domain/community_follows.py). Orchestration only."""
import dataclasses

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from soonish.temporal.digest.types import SEND_DIGESTS, DigestRound, DigestRoundResult

from soonish.temporal.rounds.workflow import run_rounds


@workflow.defn
class CommunityDigestWorkflow:
    @workflow.run
    async def run(self, params: DigestRound) -> int:
        """How many digest mails were left, by this run and the runs it continues."""
        if not params.day:  # as the schedule starts it: today's
            params = dataclasses.replace(params, day=workflow.now().date().isoformat())
        return (await run_rounds(SEND_DIGESTS, params, DigestRoundResult)).sent_before
