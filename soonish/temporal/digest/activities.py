"""Community digests on Temporal: the send activity (a thin adapter over
domain/community_follows.py) and the `soonish-digest` schedule that starts CommunityDigestWorkflow
daily (kept in sync at worker start and by `soonish sync-schedules`)."""
from datetime import date

from soonish.domain.community_follows import digest_community_ids, send_digest
from soonish.temporal.activities import AppBound, database_activity
from soonish.temporal.digest.types import SEND_DIGESTS, DigestRound, DigestRoundResult
from soonish.temporal.digest.workflow import CommunityDigestWorkflow
from soonish.temporal.rounds.activities import through_ids
from soonish.temporal.schedules import CronScope


class DigestActivities(AppBound):
    def all(self) -> list:
        return [self.send_digests]

    @database_activity(SEND_DIGESTS)  # each community is one short transaction
    def send_digests(self, round_: DigestRound) -> DigestRoundResult:
        day = date.fromisoformat(round_.day)
        return DigestRoundResult(*through_ids(self.app, lambda after: digest_community_ids(day, after),
                                              round_.after_community_id, lambda community_id: send_digest(community_id, day)))


class DigestScope(CronScope):
    schedule_name = "soonish-digest"
    cron_setting = "COMMUNITY_DIGEST_CRON"

    def starts(self):
        return CommunityDigestWorkflow.run, DigestRound()
