"""``wuyepay worker | scheduler | jobs | reconcile | alerts | late-fees``.

``worker`` and ``scheduler`` need ``REDIS_URL``; without it the web process
runs jobs and the schedule itself (embedded mode).  The other commands do
their work right here, in this process, whatever the mode.
"""
from __future__ import annotations

import datetime as dt
import logging
import signal
import threading

import click

from jobs import core, runtime
from server.audit import Actor
from server.timeutil import local_today, utcnow

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"


def register(group: click.Group) -> None:
    for command in (worker, scheduler, jobs_group, reconcile, alerts, late_fees):
        group.add_command(command)


def _setup(need_redis: bool = False):
    """Configuration, logging with job ids, the database bound (not connected)."""
    logging.basicConfig(level=logging.INFO, format=LOG_FORMAT)
    core.install_log_stamp()
    config = runtime.config()
    if need_redis and not config.REDIS_URL:
        raise click.ClickException("REDIS_URL is not set: in embedded mode the web process runs "
                                   "jobs and the schedule itself")
    core.ensure_bound()
    return config


def _date(value: str | None, default: dt.date) -> dt.date:
    if not value:
        return default
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a date like 2026-02-01") from None


@click.command()
@click.argument("queues", nargs=-1)
@click.option("--burst", is_flag=True, help="exit when the queues are empty")
@click.option("--name", default=None, help="worker name (default: host and pid)")
def worker(queues, burst, name):
    """Run an RQ worker (with RQ's scheduler for retries) on QUEUES (default: all)."""
    from rq import Worker

    from jobs.backends import RedisBackend

    config = _setup(need_redis=True)
    unknown = set(queues) - set(core.QUEUES)
    if unknown:
        raise click.BadParameter(f"unknown queue(s) {', '.join(sorted(unknown))}; queues: "
                                 f"{', '.join(core.QUEUES)}")
    core.load_all()
    backend = RedisBackend(config.REDIS_URL)
    rq_worker = Worker([backend.queue(q) for q in (queues or core.QUEUES)],
                       connection=backend.connection, name=name)
    rq_worker.work(with_scheduler=True, burst=burst, logging_level="INFO", log_format=LOG_FORMAT)


@click.command()
@click.option("--interval", default=2.0, show_default=True, help="seconds between loops")
@click.option("--lock-ttl", default=30.0, show_default=True,
              help="seconds after which a silent scheduler's lock passes to another")
def scheduler(interval, lock_ttl):
    """Run the scheduler: fires the schedule (one active scheduler at a time) and relays the outbox."""
    from jobs.backends import RedisBackend, use_backend
    from jobs.scheduler import RedisLock, Scheduler

    config = _setup(need_redis=True)
    core.load_all()
    backend = RedisBackend(config.REDIS_URL)
    use_backend(backend)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    Scheduler(backend, RedisLock(backend.connection, ttl=lock_ttl), interval=interval).run(stop)


@click.group("jobs")
def jobs_group():
    """The schedule and its jobs."""


@jobs_group.command("list")
def list_jobs():
    """Show the schedule and when each entry last fired."""
    from jobs.schedule import SCHEDULE
    from server.schedule_state import last_fire

    _setup()
    with core.connected():
        for item in SCHEDULE:
            last = last_fire(item.id)
            click.echo(f"{item.id:24} {item.when.describe():30} last {last.isoformat() if last else '-':26} "
                       f"{item.description}")


@jobs_group.command("run")
@click.argument("entry_id")
def run_job(entry_id):
    """Run a scheduled entry's job once, now, in this process."""
    from jobs.backends import InlineBackend, use_backend
    from jobs.schedule import entry

    _setup()
    try:
        item = entry(entry_id)
    except LookupError as exc:
        raise click.BadParameter(str(exc)) from None
    use_backend(InlineBackend())       # the jobs it fans out to run here too
    spec = core.spec_for(item.job)
    args = (utcnow().isoformat(),)
    result = core.run(spec, args, f"manual--{spec.job_id(args)}")
    click.echo(f"{entry_id}: {result}")


@click.command()
@click.option("--date", "day", default=None, help="bill date YYYY-MM-DD (default: yesterday, Shanghai)")
def reconcile(day):
    """Reconcile WeChat Pay's trade bill of one day (within the last three months)."""
    from server.errors import DomainError
    from server.reconciliation import service

    _setup()
    day = _date(day, local_today() - dt.timedelta(days=1))
    with core.job_context(f"manual--reconcile--{day}"):
        try:
            service.check_date(day, local_today())
            client = runtime.wechat_client()
        except DomainError as exc:
            raise click.ClickException(exc.message) from None
        except ValueError as exc:           # client_from_config: a setting is missing
            raise click.ClickException(f"WeChat Pay is not configured: {exc}") from None
        run = service.reconcile_date(day, client)
    click.echo(f"{run.bill_date}: {run.remote_rows} row(s); payments WeChat {run.remote_payments} / "
               f"{run.remote_payment_fen} fen, ours {run.local_payments} / {run.local_payment_fen} fen; "
               f"refunds WeChat {run.remote_refunds} / {run.remote_refund_fen} fen, ours "
               f"{run.local_refunds} / {run.local_refund_fen} fen; summary "
               f"{'ok' if run.summary_ok else 'MISMATCH'}; differences {run.differences}")


@click.command()
@click.option("--all", "show_all", is_flag=True, help="include acknowledged alerts")
@click.option("--check", is_flag=True, help="evaluate the alert rules first")
def alerts(show_all, check):
    """List open alerts (newest first)."""
    from server.alerts import Alert, open_alerts

    _setup()
    with core.connected():
        if check:
            from jobs.alerting import check_all
            from server.alert_rules import raise_findings

            raise_findings(check_all())
        rows = Alert.select().order_by(Alert.last_seen_at.desc()) if show_all else open_alerts()
        rows = list(rows)
        for alert in rows:
            state = "ack" if alert.acknowledged_at else "open"
            click.echo(f"#{alert.id} {alert.last_seen_at:%Y-%m-%d %H:%M}Z {state:4} {alert.severity:8} "
                       f"{alert.kind:28} ×{alert.count} {alert.message}")
    if not rows:
        click.echo("no alerts")


@click.command("late-fees")
@click.option("--date", "day", default=None, help="accrue up to this Shanghai date (default: today)")
def late_fees(day):
    """Accrue late fees on every open overdue bill up to a date (idempotent per bill and day)."""
    from server.billing.latefees import accrue_open_bills

    _setup()
    day = _date(day, local_today())
    with core.job_context(f"manual--late_fees--{day}"):
        bills, fen = accrue_open_bills(day, actor=Actor.system("late_fees"))
    click.echo(f"late fees up to {day}: {bills} bill(s), {fen} fen")
