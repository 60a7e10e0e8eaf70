"""Delivery workflows and the batch running every workflow shares: a notification's batches,
retried beside the event's next messages (DeliveryRetriesWorkflow), and one-off mails
(TransactionalMailWorkflow). They only orchestrate; activities are called by name
(see delivery/types.ActivityName)."""
import asyncio
import dataclasses

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from soonish.temporal.delivery.types import (
        ACTIVITY_TIMEOUT,
        BATCH_HEARTBEAT_TIMEOUT,
        BATCH_RETRY,
        BATCH_TIMEOUT,
        DELIVERY_RETRY,
        FIRST_ATTEMPT_RETRY,
        LEGACY_BATCH_HEARTBEAT_TIMEOUT,
        MAX_DELIVERY_ATTEMPTS,
        PARALLEL_BATCHES,
        SENDS_TO_RETRY,
        ActivityName,
        BatchResult,
        DeliveryBatch,
        NotificationRef,
        NotificationRetries,
        TransactionalMail,
        batch_retry_delay,
    )
    from soonish.temporal.delivery.types import NOTIFICATION_SETTLED


def batch_placement(delivery_task_queue: str) -> dict:
    """Where delivery batches run and how soon a dead worker's batch moves: on the delivery task
    queue with the fast-failover heartbeat. Batches scheduled before the split (on the
    workflow's own queue, 10 s heartbeat) stay as they were when their workflow replays."""
    if delivery_task_queue and workflow.patched("delivery-task-queue"):
        placement = dict(task_queue=delivery_task_queue, heartbeat_timeout=BATCH_HEARTBEAT_TIMEOUT)
        if workflow.patched("batch-retry-at-once"):  # a timed-out batch is retried at once
            placement["retry_policy"] = BATCH_RETRY
        return placement
    return dict(heartbeat_timeout=LEGACY_BATCH_HEARTBEAT_TIMEOUT)


async def each_batch(batches: list, deliver) -> None:
    """``await deliver(batch)`` for every batch, PARALLEL_BATCHES at a time."""
    slots = asyncio.Semaphore(PARALLEL_BATCHES)

    async def in_turn(batch) -> None:
        async with slots:
            await deliver(batch)

    await asyncio.gather(*(in_turn(batch) for batch in batches))


def batch_gave_up() -> None:
    # Out of retries (the database was down throughout): the ledger keeps these deliveries
    # pending, visible to the organizer, never lost.
    workflow.logger.warning("delivery batch gave up")


async def run_batches(activity_name: str, batches: list, delivery_task_queue: str = "") -> None:
    """Run one delivery activity per batch, PARALLEL_BATCHES at a time, each retried with
    backoff (the ledger makes a rerun skip what was sent)."""
    placement = batch_placement(delivery_task_queue) if batches else {}

    async def deliver(batch) -> None:
        try:
            await workflow.execute_activity(
                activity_name,
                batch,
                result_type=BatchResult,
                start_to_close_timeout=BATCH_TIMEOUT,
                **{"retry_policy": DELIVERY_RETRY, **placement},
            )
        except ActivityError:
            batch_gave_up()

    await each_batch(batches, deliver)


async def first_attempts(batches: list[DeliveryBatch], delivery_task_queue: str) -> list[DeliveryBatch]:
    """Each batch's first attempt at its sends (a batch whose worker died is still taken over at
    once); the batches with sends to retry, each with the attempts it made. A batch that failed
    for another reason (the database down) is retried in place: nothing else could go out."""
    placement = {**batch_placement(delivery_task_queue), "retry_policy": FIRST_ATTEMPT_RETRY}
    to_retry: list[DeliveryBatch] = []

    async def deliver(batch: DeliveryBatch) -> None:
        try:
            await workflow.execute_activity(
                ActivityName.DELIVER_BATCH, batch, result_type=BatchResult, start_to_close_timeout=BATCH_TIMEOUT,
                **placement,
            )
        except ActivityError as exc:
            failure = exc.cause
            if isinstance(failure, ApplicationError) and failure.type == SENDS_TO_RETRY:
                to_retry.append(dataclasses.replace(batch, earlier_attempts=failure.details[0]))
            else:
                batch_gave_up()

    await each_batch(batches, deliver)
    return to_retry


async def tell_integrators(notification_id: int) -> None:
    """Organizers' webhook endpoints hear how a notification went (notification.sent,
    delivery.failed), once its deliveries are settled."""
    try:
        await workflow.execute_activity(
            NOTIFICATION_SETTLED, NotificationRef(notification_id), start_to_close_timeout=ACTIVITY_TIMEOUT,
            retry_policy=RetryPolicy(maximum_attempts=5),
        )
    except ActivityError:
        # Telling integrators must never hold up the event's next notification.
        workflow.logger.warning("notification webhooks not recorded")


@workflow.defn
class DeliveryRetriesWorkflow:
    """The sends of one notification that failed their first attempt, retried with backoff
    (1, 2, 4 ... 64 s) beside the event's next notifications; then integrators hear how it went.
    Started by the EventWorkflow, id ``event-{id}-retries-{notification id}``."""

    @workflow.run
    async def run(self, retries: NotificationRetries) -> None:
        async def retry(batch: DeliveryBatch) -> None:
            await workflow.sleep(batch_retry_delay(batch.earlier_attempts))
            try:
                await workflow.execute_activity(
                    ActivityName.DELIVER_BATCH, batch, result_type=BatchResult, start_to_close_timeout=BATCH_TIMEOUT,
                    task_queue=retries.delivery_task_queue, heartbeat_timeout=BATCH_HEARTBEAT_TIMEOUT,
                    retry_policy=dataclasses.replace(
                        BATCH_RETRY, maximum_attempts=MAX_DELIVERY_ATTEMPTS - batch.earlier_attempts
                    ),
                )
            except ActivityError:
                batch_gave_up()

        await each_batch(retries.batches, retry)
        await tell_integrators(retries.notification_id)


@workflow.defn
class TransactionalMailWorkflow:
    """One mail to one person (a confirm or verify link), retried until the mail server takes it."""

    @workflow.run
    async def run(self, mail: TransactionalMail) -> None:
        await workflow.execute_activity(
            ActivityName.SEND_TRANSACTIONAL_MAIL,
            mail,
            start_to_close_timeout=ACTIVITY_TIMEOUT,
            retry_policy=DELIVERY_RETRY,
        )
