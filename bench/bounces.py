"""`bench/broadcast.py --mode email --bounce-rate 0.04`: broadcasts to a mail server with dead
mailboxes (issue 27).

The SMTP sink refuses half of the dead mailboxes at RCPT (550 5.1.1) and takes the other half
only to mail a Postfix DSN back to the return path, through `soonish mail-in` (its own process).
Four broadcasts of N recipients each, timed announcement → last receipt at the sink:

1. to N followers, `rate` of them dead: the bounces are recorded (waited for);
2. a clean audience of N (no dead mailbox): the reference rate;
3. to the first N again: nothing may go to a dead mailbox (suppressed), and its rate (recipients
   handled per minute) should be within 5% of the clean one;
4. the clean audience again (each event's second broadcast; the reference is the mean of 2 and 4).

Prints one RESULT line: bounce counts, suppressed=, mails to dead mailboxes in the second
broadcast, both rates and their ratio.
"""
import time
import uuid
from pathlib import Path

from sqlalchemy import func, select

from soonish.models import Delivery, DeliveryStatus, MailBounce, db
from soonish.web import create_app
from loopback.processes import ScratchDatabase, start_soonish, start_worker
from loopback.seeding import seed_subscribers
from loopback.sinks import free_port

from bench.stack import SINK_BUDGETS, bench_organizer, start_sink

BOUNCE_DOMAIN = "bounces.soonish.bench"


def run_bounces(args, tmp: Path, temporal_port: int) -> str:
    n, rate = args.subscribers, args.bounce_rate
    mail_in_port = free_port()
    sink = start_sink("smtp", tmp, "--bounce-rate", str(rate), "--mail-in-port", str(mail_in_port))
    database = ScratchDatabase("soonish_bench_bounces", tmp, args.database_url)
    run_id = uuid.uuid4().hex[:8]
    config = {
        "SECRET_KEY": "bench-secret-" + "x" * 32, "DATABASE_URL": database.url,
        "TEMPORAL_ADDRESS": f"127.0.0.1:{temporal_port}", "TEMPORAL_NAMESPACE": "default",
        "TEMPORAL_TASK_QUEUE": f"bench-{run_id}", "TEMPORAL_ID_PREFIX": f"bench-{run_id}-",
        "PUBLIC_URL": "http://soonish.bench", "SMTP_HOST": "127.0.0.1", "SMTP_PORT": sink.port,
        "SMTP_STARTTLS": False, "MAIL_FROM": "Soonish <no-reply@soonish.bench>", "ALLOW_PRIVATE_TARGETS": True,
        "BOUNCE_DOMAIN": BOUNCE_DOMAIN,
    }
    app = create_app(config)
    children = [sink.proc]
    try:
        headers = bench_organizer(app)
        shared = {"SMTP_HOST": "127.0.0.1", "SMTP_PORT": sink.port, "SMTP_STARTTLS": "false",
                  "MAIL_FROM": config["MAIL_FROM"], "BOUNCE_DOMAIN": BOUNCE_DOMAIN, "SECRET_KEY": config["SECRET_KEY"]}
        mail_in = start_soonish(["mail-in", "--bind", f"127.0.0.1:{mail_in_port}"], config, "mail-in", tmp, **shared)
        children.append(mail_in)
        workers = [start_worker(config, f"bounces-worker{i + 1}", tmp, **{**SINK_BUDGETS, **shared})
                   for i in range(args.workers)]
        children += workers
        client = app.test_client()
        dying = event(client, headers, "Dead mailboxes night")
        clean = event(client, headers, "Clean night")
        seed_subscribers(app, dying, n)
        seed_subscribers(app, clean, n, prefix="clean")
        for worker in workers:
            worker.wait_for_output("worker polling task queue")
        mail_in.wait_for_output("mail-in taking bounces")
        time.sleep(1)

        dead = round(n * rate / 2) * 2
        first = broadcast(client, headers, dying, sink, n - dead, args.stall_timeout)
        with app.app_context():
            recorded = wait_for(lambda: db.session.scalar(select(func.count()).select_from(MailBounce)), dead,
                                args.stall_timeout)
        clean_first = broadcast(client, headers, clean, sink, n, args.stall_timeout)
        before = sink._call("/_dead")
        second = broadcast(client, headers, dying, sink, n - dead, args.stall_timeout)
        after = sink._call("/_dead")
        # The clean audience's second broadcast too: each event's second, run after it (the
        # box's load moves; a single clean run was 20-30% off either way).
        clean_second = broadcast(client, headers, clean, sink, n, args.stall_timeout)
        to_dead = (after["refused"] - before["refused"]) + (after["bounced"] - before["bounced"])
        with app.app_context():
            suppressed = db.session.scalar(select(func.count()).select_from(Delivery).where(
                Delivery.notification_id == second["notification_id"], Delivery.status == DeliveryStatus.SUPPRESSED))
        second_rate = n / second["seconds"] * 60
        clean_rates = [n / run["seconds"] * 60 for run in (clean_first, clean_second)]
        clean_rate = sum(clean_rates) / 2
        return (f"RESULT mode=email n={n} bounce_rate={rate:g} first_refused={before['refused']} "
                f"first_dsns={before['bounced']} bounces_recorded={recorded} suppressed={suppressed} "
                f"second_mails_to_dead={to_dead} first_rate={n / first['seconds'] * 60:.0f}/min "
                f"clean_rates={clean_rates[0]:.0f},{clean_rates[1]:.0f}/min second_rate={second_rate:.0f}/min "
                f"second_vs_clean={second_rate / clean_rate:.3f}")
    finally:
        for child in reversed(children):
            child.stop()
        with app.app_context():
            db.session.remove()
            db.engine.dispose()
        database.drop()


def event(client, headers, title: str) -> int:
    starts = time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime(time.time() + 7 * 86400))
    response = client.post("/api/v1/events", headers=headers, json={
        "title": title, "starts_at": starts, "timezone": "Europe/Paris", "location": "Hall 2"})
    assert response.status_code == 201, response.get_json()
    return response.get_json()["id"]


def broadcast(client, headers, event_id: int, sink, expected: int, stall_timeout: float) -> dict:
    """Announce, and time it until the sink has ``expected`` mails of it."""
    sink.reset()
    t0 = time.time()
    response = client.post(f"/api/v1/events/{event_id}/announcements", headers=headers,
                           json={"title": "Doors open at 7", "body": "Bring a friend; the first round is on us."})
    assert response.status_code == 201, response.get_json()
    wait_for(lambda: sink.stats()["unique"], expected, stall_timeout)
    stats = sink.stats()
    return {"notification_id": response.get_json()["id"], "seconds": stats["last"] - t0, "received": stats["unique"]}


def wait_for(count, expected: int, stall_timeout: float) -> int:
    """Poll ``count()`` gently until it reaches ``expected`` or stops moving for ``stall_timeout``."""
    last, since = -1, time.monotonic()
    while True:
        now = count()
        if now >= expected:
            return now
        if now != last:
            last, since = now, time.monotonic()
        elif time.monotonic() - since > stall_timeout:
            print(f"  stalled at {now} of {expected}", flush=True)
            return now
        time.sleep(0.25)
