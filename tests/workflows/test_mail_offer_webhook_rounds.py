"""The smaller workflows with their activities mocked: a one-off mail retried until the mail
server takes it, a waitlist offer that expires and moves on, an outgoing webhook retried with
backoff until its window closes, and the retention, series and digest rounds."""
from datetime import timedelta

from temporalio import activity
from temporalio.exceptions import ApplicationError

from soonish.temporal.digest.types import SEND_DIGESTS, DigestRound, DigestRoundResult
from soonish.temporal.digest.workflow import CommunityDigestWorkflow
from soonish.temporal.retention.types import PRUNE_LEDGER, LedgerPruneResult, LedgerPruneRound
from soonish.temporal.retention.workflow import RetentionWorkflow
from soonish.temporal.series.types import MATERIALIZE_SERIES, SeriesRound, SeriesRoundResult
from soonish.temporal.series.workflow import SeriesMaterializeWorkflow
from soonish.temporal.delivery.types import ActivityName, TransactionalMail
from soonish.temporal.waitlist.types import RsvpActivityName, WaitlistOffer
from soonish.temporal.waitlist.workflow import WaitlistOfferWorkflow
from soonish.temporal.webhooks.types import SEND_WEBHOOK, WebhookAttemptInput, WebhookDeliveryInput
from soonish.temporal.webhooks.workflow import WebhookDeliveryWorkflow
from soonish.temporal.delivery.workflow import TransactionalMailWorkflow

from .conftest import server_now


async def test_a_one_off_mail_is_retried_until_the_mail_server_takes_it(workflow_env, run_workers):
    attempts = []

    @activity.defn(name=ActivityName.SEND_TRANSACTIONAL_MAIL)
    async def send_transactional_mail(mail: TransactionalMail) -> None:
        attempts.append((mail, activity.info().attempt))
        if len(attempts) < 3:
            raise ApplicationError("the mail server refused the connection")

    mail = TransactionalMail("reset", 12)
    async with run_workers([send_transactional_mail]) as queues:
        assert await workflow_env.client.execute_workflow(
            TransactionalMailWorkflow.run, mail, id=f"mail-{queues.workflows}", task_queue=queues.workflows) is None

    assert attempts == [(mail, 1), (mail, 2), (mail, 3)]


async def test_a_waitlist_offer_expires_at_its_time_and_passes_the_place_on(workflow_env, run_workers):
    calls = []

    @activity.defn(name=RsvpActivityName.SEND_OFFER)
    async def send_offer(offer: WaitlistOffer) -> None:
        calls.append((RsvpActivityName.SEND_OFFER, offer, activity.info().current_attempt_scheduled_time))

    @activity.defn(name=RsvpActivityName.EXPIRE_OFFER)
    async def expire_offer(offer: WaitlistOffer) -> None:
        calls.append((RsvpActivityName.EXPIRE_OFFER, offer, activity.info().current_attempt_scheduled_time))

    now = await server_now(workflow_env)
    offer = WaitlistOffer(rsvp_id=31, expires_at=now + timedelta(days=2))
    async with run_workers([send_offer, expire_offer]) as queues:
        await workflow_env.client.execute_workflow(
            WaitlistOfferWorkflow.run, offer, id=f"offer-{queues.workflows}", task_queue=queues.workflows)

    [(sent, sent_offer, sent_at), (expired, expired_offer, expired_at)] = calls
    assert (sent, sent_offer, expired, expired_offer) == (
        RsvpActivityName.SEND_OFFER, offer, RsvpActivityName.EXPIRE_OFFER, offer)
    assert sent_at < now + timedelta(minutes=1)
    assert offer.expires_at <= expired_at < offer.expires_at + timedelta(minutes=1)


async def test_an_outgoing_webhook_backs_off_and_gives_up_when_its_window_closes(workflow_env, run_workers):
    attempts: list[WebhookAttemptInput] = []
    scheduled = []

    @activity.defn(name=SEND_WEBHOOK)
    async def send_webhook(attempt: WebhookAttemptInput) -> bool:
        attempts.append(attempt)
        scheduled.append(activity.info().current_attempt_scheduled_time)
        return False  # the endpoint answers 503 every time

    async with run_workers([send_webhook]) as queues:
        delivered = await workflow_env.client.execute_workflow(
            WebhookDeliveryWorkflow.run, WebhookDeliveryInput(55, 60, 600, 3600),
            id=f"webhook-{queues.workflows}", task_queue=queues.workflows)

    assert delivered is False
    assert {attempt.message_id for attempt in attempts} == {55}
    # Waits of 60 s doubling up to 600 s, until the next attempt would come after the hour.
    offsets = [0, 60, 180, 420, 900, 1500, 2100, 2700, 3300]
    first = scheduled[0]
    assert len(scheduled) == len(offsets)
    for at, offset in zip(scheduled, offsets):
        assert abs(at - first - timedelta(seconds=offset)) < timedelta(seconds=5)
    # Each attempt tells the owner when the next comes; the last says there is none.
    for attempt, next_offset in zip(attempts, offsets[1:]):
        assert abs(attempt.next_attempt_at - first - timedelta(seconds=next_offset)) < timedelta(seconds=5)
    assert attempts[-1].next_attempt_at is None


async def test_an_outgoing_webhook_stops_once_the_endpoint_takes_it(workflow_env, run_workers):
    attempts = []

    @activity.defn(name=SEND_WEBHOOK)
    async def send_webhook(attempt: WebhookAttemptInput) -> bool:
        attempts.append(attempt)
        return len(attempts) == 3

    async with run_workers([send_webhook]) as queues:
        assert await workflow_env.client.execute_workflow(
            WebhookDeliveryWorkflow.run, WebhookDeliveryInput(56, 60, 600, 3600),
            id=f"webhook-{queues.workflows}", task_queue=queues.workflows) is True

    assert len(attempts) == 3 and all(attempt.next_attempt_at is not None for attempt in attempts)


async def test_retention_prunes_round_after_round_until_done_adding_to_the_carried_count(workflow_env, run_workers):
    answers = [LedgerPruneResult(100, False), LedgerPruneResult(50, False), LedgerPruneResult(5, True)]
    rounds = []

    @activity.defn(name=PRUNE_LEDGER)
    async def prune_ledger(params: LedgerPruneRound) -> LedgerPruneResult:
        rounds.append(params)
        return answers[len(rounds) - 1]

    async with run_workers([prune_ledger]) as queues:
        # A run continued as new starts with what the earlier runs deleted.
        deleted = await workflow_env.client.execute_workflow(
            RetentionWorkflow.run, LedgerPruneRound(deleted_before=70),
            id=f"retention-{queues.workflows}", task_queue=queues.workflows)

    assert deleted == 225
    # Each round is told the count so far, as a run continued as new would be (the prune ignores it).
    assert rounds == [LedgerPruneRound(70), LedgerPruneRound(170), LedgerPruneRound(220)]


async def test_series_rounds_resume_after_the_last_series_done(workflow_env, run_workers):
    answers = [SeriesRoundResult(3, 10, False), SeriesRoundResult(4, 25, False), SeriesRoundResult(0, 25, True)]
    rounds = []

    @activity.defn(name=MATERIALIZE_SERIES)
    async def materialize_series(params: SeriesRound) -> SeriesRoundResult:
        rounds.append(params)
        return answers[len(rounds) - 1]

    async with run_workers([materialize_series]) as queues:
        made = await workflow_env.client.execute_workflow(
            SeriesMaterializeWorkflow.run, SeriesRound(), id=f"series-{queues.workflows}", task_queue=queues.workflows)

    assert made == 7
    assert rounds == [SeriesRound(0, 0), SeriesRound(10, 3), SeriesRound(25, 7)]


async def test_digest_rounds_mail_for_the_day_the_run_started_and_resume_after_the_last_community(
        workflow_env, run_workers):
    answers = [DigestRoundResult(40, 7, False), DigestRoundResult(2, 9, True)]
    rounds = []

    @activity.defn(name=SEND_DIGESTS)
    async def send_digests(params: DigestRound) -> DigestRoundResult:
        rounds.append(params)
        return answers[len(rounds) - 1]

    today = (await server_now(workflow_env)).date().isoformat()
    async with run_workers([send_digests]) as queues:
        sent = await workflow_env.client.execute_workflow(
            CommunityDigestWorkflow.run, DigestRound(), id=f"digest-{queues.workflows}", task_queue=queues.workflows)

    assert sent == 42
    assert rounds == [DigestRound(today, 0, 0), DigestRound(today, 7, 40)]
